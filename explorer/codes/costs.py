"""Estimates of the codes lab's jobs (explorer.estimates): encoding, maps, fits, local complexity, sweeps."""
from __future__ import annotations

import math

from ..estimates import CODES_OVERHEAD, activation_bytes, param_bytes, per_input, train_seconds
from ..jobs import Estimate

LC_OVERHEAD = 4.0  # signs of every vertex compared per unit, on top of a plain forward (measured 3.5x to 6.5x)


def codes(session, layers: tuple, splits=("test",), with_activations: bool = False) -> Estimate:
    """Encoding the splits whose codes are not stored yet: one forward per input; packed bits (and floats)."""
    todo = [s for s in splits if not session.known(("codes", layers, s, with_activations))]
    if not todo:
        return Estimate(0.0, 0, "codes stored")
    x = session.data.inputs(todo[0])
    n = sum(len(session.data.inputs(s)) for s in todo)
    per = activation_bytes(session.model, x)
    seconds = per_input(session.model, x) * n * CODES_OVERHEAD
    kept = n * per // 32 * (33 if with_activations else 1)  # a bit per 4-byte unit (plus the floats)
    # batches of at most 256 inputs and MAX_BYTES captured (activation_codes); per is about one input's capture
    from .extract import MAX_BYTES
    batch = max(1, min(256, MAX_BYTES // max(per, 1)))
    return Estimate(seconds, batch * per + kept, f"{n:,} inputs encoded")


def code_bits(model, x, layers) -> int:
    """Bits of one input's code (one forward of one input)."""
    from .extract import relu_batches

    _, pre, _ = next(relu_batches(model, x[:1], list(layers), 1))
    return sum(p.shape[1] for p in pre)


def embedding(n: int, bits: int, method: str) -> Estimate:
    """A 2-D map of n codes of `bits` bits: PCA in milliseconds, t-SNE and UMAP from measured rates."""
    import sys

    data = n * bits * 4
    if method == "PCA":  # 0.07 s for 450 x 4,096 bits, and scikit-learn's first import
        first = 0.0 if "sklearn.decomposition" in sys.modules else 0.3
        return Estimate(first + 0.02 + 4e-8 * n * bits, 3 * data, f"PCA of {n:,} codes")
    if method == "t-SNE":  # openTSNE, one thread: about 20 s for the 1,797 digits, then n log n
        return Estimate(0.011 * n * math.log(max(n, 2)) / math.log(1797), data + n * 400, f"t-SNE of {n:,} codes")
    compile_ = 0.0 if "umap" in sys.modules else 8.0  # the first UMAP of a process imports and loads numba's code
    exact = 4 * n * n if n < 4096 else n * 200  # exact distances below umap's small-data cut
    return Estimate(compile_ + 2.0 + 1e-3 * n, data + exact, f"UMAP of {n:,} codes")


def categorization(session, layers: tuple, baselines: bool = True) -> Estimate:
    """The codes of both splits, then k-NN, logistic regression and two K-Means per feature set."""
    enc = codes(session, layers, ("train", "test"), with_activations=True)
    n = sum(len(session.data.inputs(s)) for s in ("train", "test"))
    dims = activation_bytes(session.model, session.data.inputs("test")) // 4
    width = dims * (2 if baselines else 1) + (session.data.images("test")[0].numel() if baselines else 0)
    return enc + Estimate(7e-7 * n * width + 0.5, n * width * 12, f"fits on {n:,} x {width:,} features")


def sweep(data, widths, epochs, sizes=None, depth: int = 1, seed: int = 0, n_jobs: int = 1, **_) -> Estimate:
    """A phase sweep: per cell, one MLP's training (a timed step of each width) and its codes per checkpoint."""
    from .sweep import seeded_mlp

    n_train = len(data.y["train"])
    sizes = tuple(dict.fromkeys(min(s, n_train) for s in (sizes or (n_train,))))
    x, n_test = data.inputs("train"), len(data.y["test"])
    seconds, peak = 0.0, 0
    for w in widths:
        model = seeded_mlp(data.shape, w, depth, data.n_classes, seed).eval()
        fwd = per_input(model, x, 256)
        for n in sizes:
            seconds += (train_seconds(model, x, n, max(epochs), n_test)
                        + fwd * CODES_OVERHEAD * (n + n_test) * len(set(epochs)) + 0.03)
        peak = max(peak, 4 * param_bytes(model))
    cells = len(widths) * len(sizes)
    return Estimate(seconds / max(1, min(n_jobs, cells)), peak * max(1, n_jobs) + x.numel() * x.element_size(),
                    f"{cells} trainings")


def local_complexity(session, n: int, n_vertices: int = 20, split: str = "test") -> Estimate:
    """local_complexity on n inputs: n_vertices encoded points each, in batches of 4096 points."""
    x = session.data.inputs(split)
    sec = per_input(session.model, x, 512) * n * n_vertices * LC_OVERHEAD + 0.1
    return Estimate(sec, 2 * min(4096, n * n_vertices) * activation_bytes(session.model, x),
                    f"{n * n_vertices:,} encoded points")


def over_training(session, count: int, radius: float | None, lc_points: int) -> Estimate:
    """Per checkpoint: the codes of both splits and (radius not None) local complexity on lc_points of each."""
    x = session.data.inputs("train")
    n = len(x) + len(session.data.inputs("test"))
    each = Estimate(per_input(session.model, x) * n * CODES_OVERHEAD, 256 * activation_bytes(session.model, x),
                    f"codes of {n:,} inputs")
    if radius is not None:
        each = each + local_complexity(session, 2 * lc_points)
    return Estimate(each.seconds * count, each.bytes, f"{count} checkpoints x ({each.what})")
