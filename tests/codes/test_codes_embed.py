"""Maps: shapes, seeds, errors; UMAP (slow) with the disconnected-graph fallback; over-training metrics."""
import numpy as np
import pytest

from explorer.codes import embed, over_training, session_map


def blobs(n=30, bits=32, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 2, (3, bits))
    y = np.repeat(np.arange(3), n // 3)
    return (protos[y] ^ (rng.random((len(y), bits)) < 0.05)).astype(np.uint8), y


@pytest.mark.parametrize("method", ["PCA", "t-SNE"])
def test_maps_are_seeded_and_separate_blobs(method):
    bits, y = blobs()
    a = embed(bits, method, seed=1)
    assert a.shape == (30, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, embed(bits, method, seed=1))
    centres = np.stack([a[y == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(a[y == c] - centres[c], axis=1).max() for c in range(3))
    assert min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i)) > spread


def test_map_errors():
    with pytest.raises(ValueError, match="choose one of PCA, t-SNE, UMAP"):
        embed(np.zeros((5, 4)), "MDS")
    with pytest.raises(ValueError, match="at least 3"):
        embed(np.zeros((2, 4)), "PCA")


def test_umap_falls_back_to_random_init(monkeypatch):
    import sys
    import types

    inits = []

    class FakeUMAP:  # stands in for umap-learn: spectral init fails as on a disconnected kNN graph
        def __init__(self, init, **kw):
            self.init = init
            inits.append((init, kw["metric"]))

        def fit_transform(self, x):
            if self.init == "spectral":
                raise TypeError("All arguments must be Sets, got (float64, float64)")
            return np.ones((len(x), 2))
    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    bits, _ = blobs()
    assert embed(bits, "UMAP").shape == (30, 2)
    assert inits == [("spectral", "hamming"), ("random", "hamming")]


@pytest.mark.slow
def test_umap_on_disconnected_codes():
    pytest.importorskip("umap")
    bits, _ = blobs(60, 64)  # three far-apart groups: a disconnected kNN graph
    a = embed(bits, "UMAP", seed=0)
    assert a.shape == (60, 2) and np.isfinite(a).all()


def test_session_map_memoised_and_over_training(digits, unchanged):
    from explorer import Session

    s = Session.open(digits, "mlp", device="cpu", width=16)
    hist = s.train(epochs=2, seed=0)
    m = session_map(s, split="test")
    assert m is session_map(s, None, "test", "PCA") and m.shape == (len(digits.labels("test")), 2)
    with unchanged(s.model):
        rows = over_training(s)
    assert [r["epoch"] for r in rows] == [e for e, _ in hist.checkpoints] == [0, 1, 2]
    # the last checkpoint is the current model: its row must equal metrics computed on the session directly
    from explorer.codes import knn_accuracy, redundancy, session_codes

    tr, te = session_codes(s, split="train"), session_codes(s, split="test")
    assert rows[-1]["9-NN"] == knn_accuracy(tr, digits.labels("train").numpy(), te, digits.labels("test").numpy())
    assert rows[-1]["redundancy ratio test"] == redundancy(te)["redundancy ratio"]
    assert rows[0]["9-NN"] != rows[-1]["9-NN"]  # epoch 0 really used the initial weights
    from explorer.codes import local_complexity
    from explorer.codes.lab import map_indices

    x = digits.inputs("test")
    lc = local_complexity(s.model, x[map_indices(len(x), 256, 0)], None, 0.1)["total"].mean()
    assert rows[-1]["local complexity test"] == pytest.approx(float(lc))
    assert rows[0]["local complexity test"] != rows[-1]["local complexity test"]
    with pytest.raises(ValueError, match="no checkpoints"):
        over_training(Session.open(digits, "mlp", device="cpu", width=8))
