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
    assert inits == [("spectral", "precomputed"), ("random", "precomputed")]  # exact distances below 4,096


@pytest.mark.slow
def test_umap_on_exact_distances_is_umaps_own_hamming_map():
    """Our precomputed exact distances give umap's own 'hamming' map and placement, bit for bit."""
    umap = pytest.importorskip("umap")
    from explorer.codes import fit_map, place

    bits, _ = blobs(90, 48, seed=3)
    ours = fit_map(bits, "UMAP", seed=0)
    own = umap.UMAP(n_neighbors=15, metric="hamming", random_state=0)
    np.testing.assert_array_equal(ours.coords, own.fit_transform(bits.astype(np.float32)))
    new = blobs(12, 48, seed=4)[0]
    np.testing.assert_array_equal(place(ours, new), own.transform(new.astype(np.float32)))


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


def test_opentsne_map_is_trustworthy_seeded_and_places_new_points():
    pytest.importorskip("openTSNE")
    from sklearn.manifold import trustworthiness

    from explorer.codes import fit_map, place

    bits, y = blobs(150, 64)
    m = fit_map(bits, "t-SNE", seed=3)
    assert type(m.model).__module__.startswith("openTSNE")
    assert trustworthiness(bits, m.coords, n_neighbors=5, metric="hamming") >= 0.9
    np.testing.assert_array_equal(m.coords, fit_map(bits, "t-SNE", seed=3).coords)
    # new members of each blob (fresh bit flips) land nearest their own blob's centre; the map does not move
    new, y_new = blobs(30, 64, seed=0)[0] ^ (np.random.default_rng(7).random((30, 64)) < 0.03), blobs(30, 64)[1]
    before = m.coords.copy()
    at = place(m, new)
    assert at.shape == (30, 2) and at.dtype == np.float32
    np.testing.assert_array_equal(m.coords, before)
    centres = np.stack([m.coords[y == c].mean(0) for c in range(3)])
    assert (np.linalg.norm(at[:, None] - centres[None], axis=2).argmin(1) == y_new).all()


def test_map_cap_and_placement_errors(monkeypatch):
    import sys

    from explorer.codes import fit_map, place

    with pytest.raises(ValueError, match="11 points is over the cap of 10"):
        embed(np.zeros((11, 4)), "PCA", max_points=10)
    with pytest.raises(ValueError, match="NaN or inf"):
        embed(np.full((5, 4), np.nan))
    bits, _ = blobs()
    pca = fit_map(bits, "PCA")
    np.testing.assert_allclose(place(pca, bits), pca.coords, atol=1e-5)
    with pytest.raises(ValueError, match="new codes have 8 bits; the map was fitted on 32"):
        place(pca, bits[:, :8])
    monkeypatch.setitem(sys.modules, "openTSNE", None)  # not installed: scikit-learn's t-SNE, which cannot place
    sk = fit_map(bits, "t-SNE", seed=0)
    assert sk.coords.shape == (30, 2)
    with pytest.raises(ValueError, match="install openTSNE"):
        place(sk, bits)


def test_numba_cache_dir_is_a_user_folder(monkeypatch, tmp_path):
    from explorer.codes.embed import numba_cache_dir

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert numba_cache_dir() == tmp_path / "explorer" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert numba_cache_dir() == tmp_path / "mine"
