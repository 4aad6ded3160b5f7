"""2-D maps of codes: PCA, t-SNE (Hamming) and UMAP (Hamming), seeded."""
from __future__ import annotations

import numpy as np

METHODS = ("PCA", "t-SNE", "UMAP")


def embed(codes, method: str = "PCA", seed: int = 0, perplexity: float = 30.0, n_neighbors: int = 15) -> np.ndarray:
    """(N, 2) float32 coordinates of codes (Codes or 0/1 array) by PCA, t-SNE or UMAP."""
    bits = (codes.bits() if hasattr(codes, "bits") else np.asarray(codes)).astype(np.float32)
    n = len(bits)
    if n < 3:
        raise ValueError(f"a map needs at least 3 codes; got {n}")
    if method == "PCA":
        from sklearn.decomposition import PCA

        if bits.shape[1] < 2:
            return np.c_[bits, np.zeros((n, 2 - bits.shape[1]), np.float32)]
        return PCA(2, random_state=seed).fit_transform(bits).astype(np.float32)
    if method == "t-SNE":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=min(perplexity, (n - 1) / 3), metric="hamming", init="pca",
                    random_state=seed).fit_transform(bits).astype(np.float32)
    if method == "UMAP":
        return _umap(bits, seed, min(n_neighbors, n - 1))
    raise ValueError(f"unknown map method {method!r}; choose one of {', '.join(METHODS)}")


def _umap(bits: np.ndarray, seed: int, n_neighbors: int) -> np.ndarray:
    """UMAP with the Hamming metric; the spectral init fails on disconnected kNN graphs, then start at random."""
    import warnings

    import umap  # slow to import (numba): only here

    def run(init):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n_jobs overridden by random_state; disconnected-graph notices
            reducer = umap.UMAP(n_neighbors=n_neighbors, metric="hamming", init=init, random_state=seed)
            return reducer.fit_transform(bits)
    try:
        return run("spectral").astype(np.float32)
    except Exception:  # noqa: BLE001 - umap's spectral layout raises several kinds on disconnected graphs
        return run("random").astype(np.float32)
