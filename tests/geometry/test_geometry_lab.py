"""The geometry lab's jobs: memoised through Session.run, on a copy of the model, with progress and cancel."""
import copy

import numpy as np
import pytest

from explorer.geometry import cka_job, collapse_job, maximise_job, regions_job, session_cka, session_regions
from explorer.jobs import Cancelled


def test_regions_job_runs_on_a_copy_and_is_memoised(trained_session, unchanged):
    s = trained_session
    job = regions_job(s, (0, 1, 2), resolution=6, layers="relu1")
    assert job.prepare() is not s.model
    calls = []
    with unchanged(s.model):
        g = session_regions(s, (0, 1, 2), resolution=6, layers="relu1", progress=lambda *a: calls.append(a))
        again = session_regions(s, (0, 1, 2), resolution=6, layers="relu1")
    assert again is g and g.ids.shape == (6, 6) and calls[-1][:2] == (36, 36)


def test_cka_and_collapse_jobs(trained_session, unchanged):
    s = trained_session
    other = copy.deepcopy(s.model)
    with unchanged(s.model):
        m = session_cka(s, ["conv1", "relu3", "fc"], max_points=60, other=other, other_layers=["fc"])
        rows = collapse_job(s, split="test", layers=["relu3"]).run()
    assert m.values.shape == (3, 1) and m.values[2, 0] == pytest.approx(1, abs=1e-9)
    assert len(rows) == len(s.history.checkpoints) and "NC1" in rows[-1]["fc:input"]

    def cancel(done, total, info=None):
        raise Cancelled

    with pytest.raises(Cancelled):
        cka_job(s, ["conv1", "fc"], max_points=300).run(cancel)


def test_maximise_job(trained_session, unchanged):
    s = trained_session
    with unchanged(s.model):
        v = s.run(maximise_job(s, "relu3", 1, steps=4, lr=0.02, jitter=0))
    assert v.trace.shape == (5,) and np.isfinite(v.image).all()


def test_other_jobs(trained_session, unchanged):
    from explorer.geometry import exact_regions_job, local_map_job, match_job, multifaceted_job

    s = trained_session
    with unchanged(s.model):
        lm = s.run(local_map_job(s, [0, 1]))
        m = s.run(match_job(s, "conv3", copy.deepcopy(s.model), max_points=50))
        f = s.run(multifaceted_job(s, "relu3", 2, n_facets=2, top=8, steps=2, jitter=0))
        with pytest.raises(ValueError, match="MLP"):
            s.run(exact_regions_job(s, (0, 1, 2)))
    assert lm.weight.shape == (2, 10, 1, 8, 8) and lm.exact
    np.testing.assert_array_equal(m.perm, np.arange(64))  # a copy matches itself unit for unit
    assert len(f.results) == 2
