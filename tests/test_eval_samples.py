"""Evaluation batches of the labs: a seeded sample stratified by class (never the first n), and the panels say so."""
import copy

import numpy as np
import pytest
import torch

from explorer import Session
from explorer.data import from_arrays


class Seen(Exception):
    """Raised by a spy once it has recorded what a lab passed on."""


def sorted_set(counts=(10, 10, 10)) -> object:
    """A class-sorted dataset of 1x8x8 images whose mean pixel is class / 2 (so a batch shows its classes)."""
    y = np.repeat(np.arange(len(counts)), counts)
    noise = 0.01 * torch.randn(len(y), 1, 8, 8, generator=torch.Generator().manual_seed(0))
    x = torch.from_numpy(y).float().view(-1, 1, 1, 1) / 2 + noise
    return from_arrays(x, y, x.clone(), y.copy(), classes=[str(c) for c in range(len(counts))], name="sorted")


def classes_of(x: torch.Tensor) -> set[int]:
    """The classes of images of sorted_set (as inputs: the set has no normalisation)."""
    return set((x.flatten(1).mean(1) * 2).round().int().tolist())


@pytest.fixture
def sorted_session(tiny_cnn):
    s = Session(tiny_cnn, sorted_set())
    s.history.checkpoints.append((0, copy.deepcopy(tiny_cnn.state_dict())))
    return s


def test_eval_batch_is_stratified_and_seeded():
    from explorer.landscape.lab import eval_batch

    data = sorted_set((20, 10, 5))
    x, y = eval_batch(data, 14)
    exact = np.array([20, 10, 5]) * 14 / 35
    assert len(y) == 14 and np.all(np.abs(np.bincount(y.numpy(), minlength=3) - exact) <= 1)
    assert torch.equal(x, eval_batch(data, 14)[0])  # same seed, same images
    assert not torch.equal(x, eval_batch(data, 14, seed=1)[0])
    assert np.array_equal(data.sample("test", 14, 3)[2], data.sample("test", 14, 3)[2])
    x_all, y_all = eval_batch(data, 500)  # n >= the split: the whole split, in order (digits' 450 stay as they were)
    assert torch.equal(x_all, data.inputs("test")) and torch.equal(y_all, data.labels("test"))
    assert data.describe_sample("test", 14) == "14 of 35 test images, stratified by class, seed 0"
    assert data.describe_sample("test", 35) == data.describe_sample("test") == "all 35 test images"


def _spy(monkeypatch, module, name, seen, pick):
    def record(*args, **kwargs):
        seen.append(pick(args, kwargs))
        raise Seen
    monkeypatch.setattr(module, name, record)


def test_every_lab_batch_sees_every_class_of_a_sorted_set(sorted_session, monkeypatch):
    """The first 6 of a class-sorted split are all of class 0: each lab's batch of 6 now holds all three."""
    import explorer.geometry.lab as geometry
    import explorer.saliency.evaluation.rank as rank
    import explorer.saliency.evaluation.sanity as sanity
    import explorer.saliency.evaluation.trust as trust
    from explorer.codes.lab import categorization_features
    from explorer.landscape import lab as landscape
    from explorer.saliency import lab as saliency

    s, every, seen = sorted_session, {0, 1, 2}, []
    assert classes_of(s.data.inputs("test")[:6]) == {0}  # what the labs took before
    assert set(landscape.eval_batch(s.data, 6)[1].tolist()) == every
    assert set(landscape.spectrum_job(s, 1, 0, n=6).prepare()[1][1].tolist()) == every
    _spy(monkeypatch, trust, "trust_metrics", seen, lambda a, k: a[1])
    _spy(monkeypatch, sanity, "model_randomization", seen, lambda a, k: a[1])
    _spy(monkeypatch, rank, "deletion_insertion", seen, lambda a, k: a[1])
    _spy(monkeypatch, geometry, "layer_grams", seen, lambda a, k: a[1])
    _spy(monkeypatch, geometry, "collapse_over_training", seen, lambda a, k: a[3])
    jobs = [saliency.trust_job(s, ["Input gradient"], 6), saliency.sanity_job(s, ["Input gradient"], 6),
            geometry.cka_job(s, ["conv1"], max_points=6)]
    for job in jobs:
        with pytest.raises(Seen):
            job.compute(job.prepare(), lambda *a: None)
    with pytest.raises(Seen):
        rank.rank_methods(s, ["Input gradient"], n=6, steps=2)
    for x in seen:
        assert classes_of(x) == every
    seen.clear()
    job = geometry.collapse_job(s, max_points=6)
    with pytest.raises(Seen):
        job.compute(job.prepare(), lambda *a: None)
    assert set(seen[0].tolist()) == every
    feats, y_train, y_test = categorization_features(s, max_points=6)
    assert set(y_train.tolist()) == set(y_test.tolist()) == every and len(feats["codes"][1]) == 6
    assert classes_of(torch.from_numpy(feats["pixels"][1]).view(-1, 1, 8, 8)) == every


def test_panels_say_what_was_sampled(digits):
    pytest.importorskip("jupyter_bokeh")
    from explorer.panels._view import LabState
    from explorer.panels.geometry.similarity import SimilarityView
    from explorer.panels.landscape import LandscapePanel
    from explorer.panels.saliency import SaliencyPanel

    s = Session.open(digits, "cnn", device="cpu", epochs=0, seed=0)
    cka = SimilarityView(LabState(s), None, max_points=100)
    assert "100 of 450 test images, stratified by class, seed 0" in cka.sampled.value
    assert "all 450 test images" in LandscapePanel(s, n_eval=512, n_shown=2).slices.sampled.value  # as before
    assert "64 of 450 test images, stratified by class, seed 0" in LandscapePanel(s, n_eval=64).slices.sampled.value
    panel = SaliencyPanel(s)
    panel.compare.compare_methods.value = ("Input gradient",)
    panel.ranking.eval_n.value, panel.trust.trust_n.value = 8, 2
    panel.ranking.evaluate()
    assert panel.error.value == ""
    assert "on 8 of 450 test images, stratified by class, seed 0" in panel.ranking.table.value
    panel.trust.metrics()
    assert panel.error.value == "" and "on 2 of 450 test images, stratified by class, seed 0" in \
        panel.trust.trust_table.value
