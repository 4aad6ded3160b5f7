"""Neural collapse: zero at a simplex ETF, the pseudo-inverse formula, curves over the trainer's checkpoints."""
import numpy as np
import pytest

from explorer.geometry import collapse_metrics, collapse_over_training, layer_collapse


def simplex_etf(c=5, d=8, seed=0):
    """Class means at a simplex ETF rotated into R^d (orthonormal columns), as rows (C, D)."""
    m = np.sqrt(c / (c - 1)) * (np.eye(c) - np.ones((c, c)) / c)
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, c)))
    return m @ q.T


def test_simplex_etf_is_fully_collapsed():
    means = simplex_etf()
    y = np.repeat(np.arange(5), 4)
    h = means[y]  # no within-class spread, global mean 0
    out = collapse_metrics(h, y, weight=2.0 * means, bias=np.zeros(5))
    for k in ("NC1", "NC2 means equinorm", "NC2 means equiangularity", "NC2 means max-angle",
              "NC2 classifier equinorm", "NC2 classifier equiangularity", "NC2 classifier max-angle", "NC3", "NC4"):
        assert out[k] == pytest.approx(0, abs=1e-12), k


def test_nc1_matches_the_pseudo_inverse_formula():
    rng = np.random.default_rng(1)
    means = 3 * simplex_etf(4, 6, seed=2) + 1.0  # shifted: the global mean is not 0
    y = np.repeat(np.arange(4), 25)
    h = means[y] + 0.4 * rng.normal(size=(100, 6))
    mu = np.stack([h[y == c].mean(0) for c in range(4)])
    mg = mu.mean(0)
    sw = sum(np.outer(r, r) for r in h - mu[y]) / len(h)
    sb = sum(np.outer(r, r) for r in mu - mg) / 4
    out = collapse_metrics(h, y)
    assert out["NC1"] == pytest.approx(np.trace(sw @ np.linalg.pinv(sb)) / 4, rel=1e-9)
    assert out["NC1"] > 0 and "NC3" not in out
    w = rng.normal(size=(4, 6))
    full = collapse_metrics(h, y, w)
    assert full["NC4"] == pytest.approx(float(((h @ w.T).argmax(1) != ((h[:, None] - mu[None]) ** 2).sum(-1)
                                               .argmin(1)).mean()))
    with pytest.raises(ValueError, match="labels"):
        collapse_metrics(h, y[:-1])
    with pytest.raises(ValueError, match="classifier takes"):
        collapse_metrics(h, y, w[:, :5])


def test_over_the_trainers_checkpoints(trained_session, unchanged):
    s = trained_session
    ckpts = s.history.checkpoints[::5]  # epochs 0, 5, 10, 15
    calls = []
    x, y = s.data.inputs("train")[:400], s.data.labels("train")[:400]
    with unchanged(s.model):
        rows = collapse_over_training(s.model, ckpts, x, y, layers=["relu3"],
                                      progress=lambda d, t, info: calls.append((d, t)))
    assert [r["epoch"] for r in rows] == [0, 5, 10, 15] and calls[-1] == (4, 4)
    first, last = rows[0]["fc:input"], rows[-1]["fc:input"]
    assert last["NC1"] < first["NC1"] and last["NC4"] <= first["NC4"] + 0.05
    assert "NC3" not in rows[0]["relu3"]
    now = layer_collapse(s.model, x, y)["fc:input"]  # the last checkpoint is the model itself
    assert now["NC1"] == pytest.approx(last["NC1"], rel=1e-6)
    with pytest.raises(ValueError, match="checkpoints"):
        collapse_over_training(s.model, [], x, y)
