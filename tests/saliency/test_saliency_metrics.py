"""Evaluation of maps: known answers for deletion/insertion, pointing game, energy, class sensitivity, DiffROAR."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from explorer.saliency import (
    EigenCAM,
    Explainer,
    GradCAM,
    class_sensitivity,
    deletion_insertion,
    diff_roar,
    energy,
    pointing_game,
    rank_methods,
)


@pytest.fixture(scope="module")
def cnn_session(digits):
    """The default CNN with seeded random weights: the checks hold for any weights, and it needs no training."""
    from explorer import Session

    return Session.open(digits, "cnn", device="cpu", epochs=0, seed=0)


@pytest.fixture(scope="module")
def blocks():
    from explorer import load_dataset

    return load_dataset("block-digits")


def test_pointing_and_energy_known_answers(blocks):
    masks = blocks.masks["test"]
    assert pointing_game(masks.float(), masks).all()
    assert torch.allclose(energy(masks.float(), masks), torch.ones(len(masks)))
    assert not pointing_game((~masks).float(), masks).any()
    assert torch.equal(energy((~masks).float(), masks), torch.zeros(len(masks)))
    rand = torch.rand(masks.shape, generator=torch.Generator().manual_seed(0))
    assert abs(pointing_game(rand, masks).float().mean() - masks.float().mean()) < 0.08  # chance = mask share, 0.5
    assert abs(energy(rand, masks).mean() - 0.5) < 0.01
    # tolerance: a peak one pixel beside the mask misses at 0 and hits at 1
    m = torch.zeros(1, 4, 4, dtype=torch.bool)
    m[0, 0, 0] = True
    peak = torch.zeros(1, 4, 4)
    peak[0, 0, 1] = 1
    assert not pointing_game(peak, m)[0] and pointing_game(peak, m, tolerance=1)[0]
    assert energy(torch.zeros(1, 4, 4), m)[0] == 0
    with pytest.raises(ValueError, match="shape"):
        energy(peak, m[:, :2])


def linear_model():
    """logit_0 = w . x with w = (4, 3, 2, 1) over a 1x1x4 image; logit_1 = 0."""
    fc = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[4.0, 3, 2, 1], [0, 0, 0, 0]]))
    return nn.Sequential(nn.Flatten(), fc).eval()


def test_deletion_insertion_known_answer(unchanged):
    model = linear_model()
    x = torch.ones(1, 1, 1, 4)
    cam = torch.tensor([[[0.1, 0.9, 0.5, 0.3]]])  # order: pixel 1 (w 3), 2 (w 2), 3 (w 1), 0 (w 4)
    with unchanged(model):
        out = deletion_insertion(model, x, cam, torch.tensor([0]), steps=4, baseline=0.0)
    sig = torch.sigmoid
    want_del = sig(torch.tensor([10.0, 7, 5, 4, 0]))
    want_ins = sig(torch.tensor([0.0, 3, 5, 6, 10]))
    assert torch.allclose(out["deletion"][0], want_del, atol=1e-6)
    assert torch.allclose(out["insertion"][0], want_ins, atol=1e-6)
    assert torch.allclose(out["deletion_auc"][0], ((want_del[1:] + want_del[:-1]) / 2).mean(), atol=1e-6)
    # the true contributions (w * x) as the map: a lower deletion AUC and a higher insertion AUC
    best = deletion_insertion(model, x, torch.tensor([[[4.0, 3, 2, 1]]]), torch.tensor([0]), steps=4, baseline=0.0)
    assert best["deletion_auc"][0] < out["deletion_auc"][0] and best["insertion_auc"][0] > out["insertion_auc"][0]
    with pytest.raises(ValueError, match="baseline"):
        deletion_insertion(model, x, cam, torch.tensor([0]), baseline="zeros")


def test_deletion_insertion_batched_with_blur(cnn_session):
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:6]
    maps = GradCAM("conv3")(model, x)
    t = cnn_session.evaluate().predictions[:6]
    both = deletion_insertion(model, x, maps, t, steps=8, batch_size=7)  # chunking across steps
    for i in (0, 5):
        one = deletion_insertion(model, x[i:i + 1], maps[i:i + 1], t[i:i + 1], steps=8)
        assert torch.allclose(both["insertion"][i], one["insertion"][0], atol=1e-5)
    assert both["deletion"].shape == (6, 9)
    assert (both["deletion_auc"] >= 0).all() and (both["insertion_auc"] <= 1).all()


def test_class_sensitivity_known_answers(cnn_session):
    conv = nn.Conv2d(1, 3, 1, bias=False)  # the 1x1-conv model of test_saliency_methods: CAM_0 = 3x, CAM_1 = -x
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0, 2.0]).view(3, 1, 1, 1))
        fc.weight.copy_(torch.tensor([[1.0, 0, 1], [0, 1, 0]]))
    model = nn.Sequential(OrderedDict(conv=conv, gap=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=fc)).eval()
    X = torch.tensor([[1.0, -2.0], [3.0, 0.0]]).view(1, 1, 2, 2)
    # Grad-CAM for class 0 = norm ReLU(3x), class 1 = norm ReLU(-x) (the highest and lowest logits here)
    a = np.array([1 / 3, 0, 1, 0])
    b = np.array([0, 1, 0, 0])
    got = class_sensitivity(Explainer(model, GradCAM("conv")), X)
    assert abs(float(got[0]) - np.corrcoef(a, b)[0, 1]) < 1e-5
    # Eigen-CAM ignores the class: correlation 1
    x = cnn_session.data.inputs("test")[:5]
    assert torch.allclose(class_sensitivity(Explainer(cnn_session.model, EigenCAM("conv3")), x),
                          torch.ones(5), atol=1e-5)


@pytest.mark.slow
def test_diff_roar_oracle_positive_random_near_zero(blocks):
    from explorer import build_model

    model = build_model("cnn", blocks, seed=0)
    oracle = {s: blocks.masks[s].float() for s in ("train", "test")}  # k = 0.5: top-k is the signal block
    calls = []
    out = diff_roar(model, blocks, oracle, k=0.5, epochs=6, progress=lambda d, t, i=None: calls.append((d, t)))
    assert out["diff_roar"] > 0.3, out  # measured 0.66 (top 0.76, bottom 0.10 = chance)
    assert calls and calls[-1][0] == calls[-1][1]  # progress reaches the end of both runs
    gen = torch.Generator().manual_seed(0)
    rand = {s: torch.rand(blocks.masks[s].shape, generator=gen) for s in ("train", "test")}
    assert abs(diff_roar(model, blocks, rand, k=0.5, epochs=6)["diff_roar"]) < 0.2
    with pytest.raises(ValueError, match="k must"):
        diff_roar(model, blocks, oracle, k=1.5)
    with pytest.raises(ValueError, match="maps"):
        diff_roar(model, blocks, {"train": oracle["train"]}, k=0.5)


def test_diff_roar_takes_a_method(blocks, unchanged):
    from dataclasses import replace

    from explorer import build_model
    from explorer.saliency.evaluation.roar import split_maps

    small = replace(blocks, x={s: blocks.x[s][:40] for s in blocks.x}, y={s: blocks.y[s][:40] for s in blocks.y},
                    masks={s: blocks.masks[s][:40] for s in blocks.masks})
    model = build_model("cnn", small, seed=0).eval()
    with unchanged(model):
        maps = split_maps(model, "Grad-CAM", small)
        out = diff_roar(model, small, "Grad-CAM", k=0.3, epochs=1)
    assert maps["train"].shape == (40, 16, 8) and set(out) == {"top_accuracy", "bottom_accuracy", "diff_roar"}


def test_rank_methods_table(unchanged):
    from explorer import Session

    session = Session.open("block-digits", epochs=0, device="cpu")
    with unchanged(session.model):
        rows = rank_methods(session, ["Grad-CAM", "Input gradient"], n=12, steps=4)
    assert [r["rank"] for r in rows] == [1, 2]
    assert {r["method"] for r in rows} == {"Grad-CAM", "Input gradient"}
    for r in rows:
        assert {"deletion_auc", "insertion_auc", "pointing", "energy", "sensitivity", "seconds"} <= set(r)
        assert 0 <= r["pointing"] <= 1 and 0 <= r["energy"] <= 1
    score = [r["insertion_auc"] - r["deletion_auc"] for r in rows]
    assert score == sorted(score, reverse=True)
    with pytest.raises(KeyError, match="Grad-CAM"):
        rank_methods(session, ["Nope"], n=4)


def test_metrics_refuse_non_finite_maps(cnn_session):
    """A NaN map has no maximum and no energy: the pointing game counted it as a hit and energy returned 0; every
    metric now names the images whose map is not finite."""
    from explorer.saliency.evaluation.faithfulness import (
        complexity,
        faithfulness_correlation,
        max_sensitivity,
        random_logit,
        sparseness,
    )
    from explorer.saliency.evaluation.trust import trust_metrics

    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[:, :4] = True
    maps = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    maps[1, 2, 3] = float("nan")
    maps[2] = float("inf")
    for metric in (pointing_game, energy):
        with pytest.raises(ValueError, match=r"maps of image\(s\) 1, 2 hold NaN or inf"):
            metric(maps, masks)
    for metric in (sparseness, complexity):
        with pytest.raises(ValueError, match=r"attributions of image\(s\) 1, 2 hold NaN or inf"):
            metric(maps)
    s = cnn_session
    x = s.data.inputs("test")[:3]
    with pytest.raises(ValueError, match=r"faithfulness correlation's attributions of image\(s\) 1, 2"):
        faithfulness_correlation(s.model, x, maps, runs=2, subset=4)
    with pytest.raises(ValueError, match="deletion|NaN"):
        deletion_insertion(s.model, x, maps, torch.zeros(3))

    def nan_method(model, x, t):  # a plain callable (no Saliency base to check it)
        return torch.full(x.shape[:1] + x.shape[2:], float("nan"))

    with pytest.raises(ValueError, match="max-sensitivity's maps"):
        max_sensitivity(s.model, x, nan_method, samples=1)
    with pytest.raises(ValueError, match="random-logit's maps"):
        random_logit(s.model, x, nan_method)
    with pytest.raises(ValueError, match="LRP with .*eps=0.0.* non-finite"):  # the dead channels of random weights
        trust_metrics(s.model, x, {"LRP": make_lrp(0.0)}, runs=2, samples=1)


def make_lrp(eps):
    from explorer.saliency import LRP

    return LRP(eps=eps, backend="own")
