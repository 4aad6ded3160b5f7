"""2-D maps of codes: PCA (instant), t-SNE (openTSNE when installed, else scikit-learn) and UMAP, Hamming, seeded;
new points placed into an existing map (openTSNE's and UMAP's transform) without refitting."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

METHODS = ("PCA", "t-SNE", "UMAP")
MAX_POINTS = 50_000  # a map beyond this is slow to fit and to draw: subsample (session_map's max_points)


@dataclasses.dataclass
class FittedMap:
    """A fitted map: the method, its (N, 2) coordinates, the fitted model that places new codes, bits per code."""
    method: str
    coords: np.ndarray
    model: object
    n_bits: int
    reference: np.ndarray | None = None  # the fitted codes, where the model places by distances to them


def _bits(codes) -> np.ndarray:
    """Codes (or a 0/1 array) as float32 0/1 rows; ValueError on NaN or inf."""
    bits = (codes.bits() if hasattr(codes, "bits") else np.asarray(codes)).astype(np.float32)
    if bits.ndim != 2:
        raise ValueError(f"codes must be 2-D (N, bits); got shape {bits.shape}")
    if not np.isfinite(bits).all():
        raise ValueError("codes contain NaN or inf")
    return bits


def fit_map(codes, method: str = "PCA", seed: int = 0, perplexity: float = 30.0, n_neighbors: int = 15,
            max_points: int = MAX_POINTS, n_jobs: int = 1) -> FittedMap:
    """A map of codes (Codes or an (N, bits) 0/1 array) whose model can place new codes (see `place`).

    method: 'PCA' (default, instant), 't-SNE' (Hamming; openTSNE if installed, else scikit-learn, which cannot
    place new points) or 'UMAP' (Hamming; numba's compiled code cached on disk, see `numba_cache_dir`).
    At most `max_points` codes; n_jobs: openTSNE's threads (1 keeps the same seed giving the same map).
    """
    bits = _bits(codes)
    n, d = bits.shape
    if method not in METHODS:
        raise ValueError(f"unknown map method {method!r}; choose one of {', '.join(METHODS)}")
    if n < 3:
        raise ValueError(f"a map needs at least 3 codes; got {n}")
    if n > max_points:
        raise ValueError(f"a map of {n:,} points is over the cap of {max_points:,}: subsample the codes "
                         f"(session_map's max_points) or pass a larger max_points")
    if method == "PCA":
        from sklearn.decomposition import PCA

        if bits.shape[1] < 2:
            return FittedMap(method, np.c_[bits, np.zeros((n, 2 - d), np.float32)], None, d)
        pca = PCA(2, random_state=seed)
        return FittedMap(method, pca.fit_transform(bits).astype(np.float32), pca, d)
    if method == "t-SNE":
        perplexity = min(perplexity, (n - 1) / 3)
        try:
            from openTSNE import TSNE, affinity, nearest_neighbors
        except ImportError:  # scikit-learn's exact same objective, slower, without placement of new points
            from sklearn.manifold import TSNE as SKTSNE

            coords = SKTSNE(2, perplexity=perplexity, metric="hamming", init="pca",
                            random_state=seed).fit_transform(bits)
            return FittedMap(method, coords.astype(np.float32), None, d)
        # The neighbour index is built here: openTSNE's own choice imports pynndescent, whose numba code compiles
        # for minutes on a first import, only to pick exact search (< 1,000 points) or Annoy (hamming) anyway.
        index = (nearest_neighbors.Sklearn if n < 1000 else nearest_neighbors.Annoy)(
            bits, min(n - 1, int(3 * perplexity)), metric="hamming", n_jobs=n_jobs, random_state=seed)
        aff = affinity.PerplexityBasedNN(perplexity=perplexity, knn_index=index, n_jobs=n_jobs, random_state=seed)
        # Barnes-Hut below 10,000 points, FFT above (openTSNE's advice; FFT on tiny maps spreads over many boxes)
        emb = TSNE(2, perplexity=perplexity, metric="hamming", initialization="pca", random_state=seed,
                   n_jobs=n_jobs, negative_gradient_method="bh" if n < 10_000 else "fft").fit(bits, aff)
        return FittedMap(method, np.asarray(emb, dtype=np.float32), emb, d)
    return _umap(bits, seed, min(n_neighbors, n - 1))


# CPU seconds on one core (benchmarks/README.md, "Estimates vs measured"), scaled by the load when estimated
IMPORT_SKLEARN = 1.8  # scikit-learn's first import (PCA's own, and UMAP's through umap)
IMPORT_PCA = 0.15  # sklearn.decomposition once scikit-learn is imported
IMPORT_UMAP = 1.9  # numba, pynndescent (its compiled code loaded from numba's cache) and umap
COMPILE_PYNNDESCENT = 30.0  # pynndescent's functions compiled at import when numba's cache has none of them
COMPILE_UMAP = 19.0  # umap's functions compiled at the first fit of a process when the cache has none of them
UMAP_PER_POINT_EPOCH = 3.4e-6  # the layout's optimisation (a point and its 15 neighbours, 5 negative samples)
PCA_PER_VALUE = 2.8e-8  # scikit-learn's PCA of n x bits 0/1 values, per value


def estimate(n: int, bits: int, method: str = "PCA"):
    """What fit_map of n codes of `bits` bits will cost (explorer.jobs.Estimate): a first import, numba's
    compilation on a first UMAP (none where numba's cache on disk has the code), and the fit."""
    import sys

    from ..estimates import GEMM_RATE, cpu_seconds
    from ..jobs import Estimate

    data = n * bits * 4
    if method == "PCA":
        first = (0.0 if "sklearn" in sys.modules else IMPORT_SKLEARN) + \
            (0.0 if "sklearn.decomposition" in sys.modules else IMPORT_PCA)
        return Estimate(cpu_seconds(first + 0.005 + PCA_PER_VALUE * n * bits), 3 * data, f"PCA of {n:,} codes")
    if method == "t-SNE":  # openTSNE, one thread: about 20 s for the 1,797 digits, then n log n
        seconds = 0.011 * n * np.log(max(n, 2)) / np.log(1797)
        return Estimate(cpu_seconds(seconds), data + n * 400, f"t-SNE of {n:,} codes")
    first = 0.0
    if "umap" not in sys.modules:
        first += (0.0 if "sklearn" in sys.modules else IMPORT_SKLEARN) + IMPORT_UMAP
        first += 0.0 if _on_disk("pynndescent") else COMPILE_PYNNDESCENT
    first += 0.0 if _fitted_in_process() or _on_disk("umap") else COMPILE_UMAP
    epochs = 500 if n <= 10_000 else 200  # umap's own choice
    fit = 0.02 + UMAP_PER_POINT_EPOCH * n * epochs
    # exact distances below umap's small-data cut (one GEMM); above it NN-descent, not measured: a guess
    fit += 2 * n * n * bits / GEMM_RATE if n < SMALL else 5e-8 * n * bits * 10
    return Estimate(cpu_seconds(first + fit), data + (4 * n * n if n < SMALL else n * 200),
                    f"UMAP of {n:,} codes" + (", numba's first compilation" if first > IMPORT_SKLEARN + IMPORT_UMAP
                                              else ""))


def _on_disk(package: str) -> bool:
    """Whether numba's cache (numba_cache_dir) holds compiled code of an installed package: numba files it under
    '<the package's folder name>_<SHA-1 of that folder's path>'."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return False
    folder = os.path.dirname(os.path.abspath(spec.origin))
    cached = numba_cache_dir() / f"{os.path.basename(folder)}_{hashlib.sha1(folder.encode()).hexdigest()}"
    return cached.is_dir() and any(cached.glob("*.nbi"))


def _fitted_in_process() -> bool:
    """Whether umap's functions are compiled in this process already (a UMAP was fitted)."""
    import sys

    module = sys.modules.get("umap.umap_")
    return module is not None and bool(getattr(getattr(module, "smooth_knn_dist", None), "signatures", True))


def embed(codes, method: str = "PCA", seed: int = 0, perplexity: float = 30.0, n_neighbors: int = 15,
          max_points: int = MAX_POINTS) -> np.ndarray:
    """(N, 2) float32 coordinates of codes (Codes or 0/1 array) by PCA, t-SNE or UMAP (see fit_map)."""
    return fit_map(codes, method, seed, perplexity, n_neighbors, max_points).coords


def place(fitted: FittedMap, codes) -> np.ndarray:
    """(M, 2) float32 positions of new codes in an existing map, the map's points unmoved (no refit)."""
    bits = _bits(codes)
    if fitted.model is None:
        why = "install openTSNE for t-SNE maps that place new points" if fitted.method == "t-SNE" else \
            "a map of codes with fewer than 2 bits has no model"
        raise ValueError(f"this {fitted.method} map cannot place new points: {why}")
    if bits.shape[1] != fitted.n_bits:
        raise ValueError(f"new codes have {bits.shape[1]} bits; the map was fitted on {fitted.n_bits}")
    if fitted.reference is not None:  # a UMAP fitted on exact distances: it places from distances too
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # umap's notice that the input is taken as distances: it is
            return np.asarray(fitted.model.transform(hamming_distances(bits, fitted.reference)), dtype=np.float32)
    return np.asarray(fitted.model.transform(bits), dtype=np.float32)  # PCA, openTSNE and UMAP alike


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Hamming distances between 0/1 rows as fractions of the bits (umap's 'hamming'), exact:
    |a| + |b| - 2 a.b with float32 sums of 0/1 products, exact integers below 2**24 bits."""
    if a.shape[1] >= 1 << 24:
        raise ValueError(f"codes of {a.shape[1]:,} bits are too long for exact float32 counts")
    counts = a.sum(1)[:, None] + b.sum(1)[None, :] - 2 * (a @ b.T)
    return (counts.astype(np.float64) / a.shape[1]).astype(np.float32)


def numba_cache_dir() -> Path:
    """Where numba keeps UMAP's compiled code: $NUMBA_CACHE_DIR, else the user cache ~/.cache/explorer/numba."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("NUMBA_CACHE_DIR", base / "explorer" / "numba"))


def _use_numba_cache() -> None:
    """Point numba's on-disk cache at a user folder before umap is imported (site-packages may be read-only,
    and a user folder survives reinstalls), so a second kernel loads compiled code instead of compiling."""
    import sys

    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
    if "numba" in sys.modules:  # imported before us: numba reads its environment at import, so re-read it
        from numba.core import config

        config.reload_config()


def _cache_umap_numba(modules) -> None:
    """Have numba keep umap's compiled functions on disk: umap caches one of its ~250, so every kernel compiled
    the rest again (about 10 s before the first map). Closures and functions already cached are left alone."""
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    for module in modules:
        for fn in list(vars(module).values()):
            if (isinstance(fn, CPUDispatcher) and isinstance(getattr(fn, "_cache", None), NullCache)
                    and "<locals>" not in fn.py_func.__qualname__):
                fn.enable_caching()


SMALL = 4096  # umap's own cut: below it, it computes every distance exactly (above, NN-descent)


def _umap(bits: np.ndarray, seed: int, n_neighbors: int) -> FittedMap:
    """UMAP with the Hamming metric; the spectral init fails on disconnected kNN graphs, then start at random.

    Below umap's small-data cut the exact distances are ours (one matrix product) and reach umap as
    'precomputed': the same neighbours and the same map as its 'hamming', without its Python-level call per pair
    (about 5 s on 1,797 codes)."""
    import sys
    import warnings

    _use_numba_cache()
    import umap  # slow to import (numba): only here

    _cache_umap_numba([m for name, m in list(sys.modules.items()) if name == "umap" or name.startswith("umap.")])
    small = len(bits) < SMALL
    x = hamming_distances(bits, bits) if small else bits

    def run(init):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n_jobs overridden by random_state; disconnected-graph notices
            reducer = umap.UMAP(n_neighbors=n_neighbors, metric="precomputed" if small else "hamming", init=init,
                                random_state=seed)
            return reducer, reducer.fit_transform(x)
    import torch

    threads = torch.get_num_threads()  # numba's OpenMP layer, started by the first fit, resets OpenMP's count
    try:
        reducer, coords = run("spectral")
    except Exception:  # noqa: BLE001 - umap's spectral layout raises several kinds on disconnected graphs
        reducer, coords = run("random")
    finally:
        torch.set_num_threads(threads)  # torch shares that count: the user's choice stays
    return FittedMap("UMAP", np.asarray(coords, dtype=np.float32), reducer, bits.shape[1],
                     bits if small else None)
