"""Maps of many codes: PCA of all of them; UMAP and t-SNE fitted on a seeded sample, the rest placed by the fitted
model's `transform` (umap's, openTSNE's), in chunks; and the note the map shows saying which."""
from __future__ import annotations

import numpy as np

from .embed import MAX_POINTS, fit_map, place

FIT_SAMPLE = MAX_POINTS  # codes UMAP and t-SNE are fitted on when there are more; transform places the others
CHUNK = 50_000  # codes placed per transform call (progress, and memory for umap's distances)


def fit_size(n: int, method: str, fit_sample: int = FIT_SAMPLE) -> int:
    """How many of n codes the map is fitted on: all for PCA, at most fit_sample for UMAP and t-SNE."""
    return n if method == "PCA" else min(n, fit_sample, MAX_POINTS)


def note(n: int, method: str, fit_sample: int = FIT_SAMPLE) -> str:
    """What the map says about its embedding: the method and the sample it was fitted on."""
    m = fit_size(n, method, fit_sample)
    if m == n:
        return f"{method} of all {n:,} points"
    return f"{method} fitted on {m:,} of {n:,} points (seeded sample), the other {n - m:,} placed by its transform"


def embed_large(codes, method: str = "PCA", seed: int = 0, fit_sample: int = FIT_SAMPLE, progress=None
                ) -> np.ndarray:
    """(N, 2) float32 map of N codes (Codes or 0/1 array) of any N: see `note` for what is fitted on what.
    progress(done, total) after each chunk placed."""
    bits = np.asarray(codes.bits() if hasattr(codes, "bits") else codes)
    n = len(bits)
    m = fit_size(n, method, fit_sample)
    if method == "PCA" and n > MAX_POINTS:  # one PCA of everything: linear in N
        return fit_map(bits, "PCA", seed, max_points=n).coords
    if m == n:
        return fit_map(bits, method, seed).coords
    fit = np.sort(np.random.default_rng(seed).choice(n, m, replace=False))
    fitted = fit_map(bits[fit], method, seed)
    out = np.empty((n, 2), np.float32)
    out[fit] = fitted.coords
    rest = np.setdiff1d(np.arange(n), fit, assume_unique=True)
    for start in range(0, len(rest), CHUNK):
        part = rest[start:start + CHUNK]
        out[part] = place(fitted, bits[part])
        if progress is not None:
            progress(min(start + CHUNK, len(rest)), len(rest))
    return out
