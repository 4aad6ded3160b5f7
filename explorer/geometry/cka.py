"""Linear CKA (Kornblith et al. 2019) and its debiased form (HSIC1, Song et al. 2012), between layers and models."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .features import layer_outputs, stages


def _matrix(x, name: str = "X") -> torch.Tensor:
    """(n, p) float64 from a tensor or array (n, ...), with NaN/inf checked."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach()
    if t.ndim < 2:
        raise ValueError(f"{name} must be (n examples, features); got shape {tuple(t.shape)}")
    t = t.flatten(1).double()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


def gram(x) -> torch.Tensor:
    """The linear Gram matrix X X^T, (n, n) float64."""
    x = _matrix(x)
    return x @ x.T


def _center(k: torch.Tensor) -> torch.Tensor:
    """H K H with H = I - 11^T / n."""
    k = k - k.mean(0, keepdim=True)
    return k - k.mean(1, keepdim=True)


def hsic1(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:  # noqa: E741 - L as in the paper
    """The unbiased HSIC estimator of Song et al. (2012) on raw Gram matrices (needs n >= 4)."""
    n = len(k)
    if n < 4:
        raise ValueError(f"debiased CKA needs at least 4 examples; got {n}")
    k, l = k.clone(), l.clone()  # noqa: E741
    k.fill_diagonal_(0)
    l.fill_diagonal_(0)
    ones = torch.ones(n, dtype=k.dtype, device=k.device)
    return ((k * l).sum() + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2 * (k @ ones) @ (l @ ones) / (n - 2)) / (
        n * (n - 3))


def _check_n(a: int, b: int) -> None:
    if a != b:
        raise ValueError(f"CKA compares the same examples: got {a} and {b} examples (rows)")


def cka_from_grams(k: torch.Tensor, l: torch.Tensor, debiased: bool = False) -> float:  # noqa: E741
    """CKA from two raw (uncentred) Gram matrices of the same n examples."""
    _check_n(len(k), len(l))
    if debiased:
        num, den = hsic1(k, l), torch.sqrt(hsic1(k, k) * hsic1(l, l))
    else:
        kc, lc = _center(k), _center(l)
        num, den = (kc * lc).sum(), kc.norm() * lc.norm()
    return float(num / den) if den > 0 else float("nan")


def linear_cka(x, y, debiased: bool = False) -> float:
    """Linear CKA of two representations of the same n examples, (n, p1) and (n, p2) (conv maps flattened).

    Biased: ||Y~^T X~||_F^2 / (||X~^T X~||_F ||Y~^T Y~||_F) with column-centred X~, Y~ (in feature space when
    both widths are below n, else with n x n Gram matrices). debiased=True uses HSIC1. NaN if one is constant.
    """
    x, y = _matrix(x, "X"), _matrix(y, "Y")
    _check_n(len(x), len(y))
    if debiased or max(x.shape[1], y.shape[1]) >= len(x):
        return cka_from_grams(x @ x.T, y @ y.T, debiased)
    x, y = x - x.mean(0), y - y.mean(0)
    den = (x.T @ x).norm() * (y.T @ y).norm()
    return float((y.T @ x).norm() ** 2 / den) if den > 0 else float("nan")


@dataclass(eq=False)
class CKAMatrix:
    """CKA between each row layer (model a) and each column layer (model b, or a again)."""

    values: np.ndarray  # (len(rows), len(cols)) float64
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    debiased: bool


def _hsic(k: torch.Tensor, l: torch.Tensor, debiased: bool) -> torch.Tensor:  # noqa: E741
    """HSIC of (n, n) Gram matrices, or summed over a stack (B, n, n) of minibatches (Nguyen et al. 2021).

    Biased: <HKH, HLH> (the 1/(n-1)^2 cancels in CKA, minibatches being equal in size); debiased: HSIC1.
    """
    if k.ndim == 3:
        return sum(_hsic(kb, lb, debiased) for kb, lb in zip(k, l, strict=True))
    return hsic1(k, l) if debiased else (_center(k) * _center(l)).sum()


def cka_matrix(grams_a: dict, grams_b: dict | None = None, debiased: bool = False, progress=None) -> CKAMatrix:
    """CKA of every pair of layers from Gram matrices {name: (n, n)}, or minibatch CKA from stacks {name:
    (B, b, b)} (layer_grams(minibatch=b)); pure: no model runs here."""
    same = grams_b is None
    grams_b = grams_a if same else grams_b
    shapes = {tuple(g.shape) for g in list(grams_a.values()) + list(grams_b.values())}
    if len(shapes) > 1:
        raise ValueError(f"CKA compares the same examples: the layers' Gram matrices have shapes {sorted(shapes)}")
    ra, rb = list(grams_a), list(grams_b)
    selfa = {n: _hsic(g, g, debiased) for n, g in grams_a.items()}
    selfb = selfa if same else {n: _hsic(g, g, debiased) for n, g in grams_b.items()}
    out = np.full((len(ra), len(rb)), np.nan)
    total, done = len(ra) * len(rb), 0
    for i, a in enumerate(ra):
        for j, b in enumerate(rb):
            if same and j < i:
                out[i, j] = out[j, i]
            else:
                den = torch.sqrt(selfa[a] * selfb[b])
                out[i, j] = float(_hsic(grams_a[a], grams_b[b], debiased) / den) if den > 0 else np.nan
            done += 1
        if progress:
            progress(done, total, {"layer": a})
    return CKAMatrix(out, tuple(ra), tuple(rb), debiased)


def layer_grams(model: nn.Module, x: torch.Tensor, layers=None, batch_size: int = 128, minibatch: int | None = None,
                progress=None) -> dict:
    """Gram matrices {layer: (n, n) float64} of each layer's flattened, column-centred outputs on x (runs the model);
    with minibatch=b, stacks {layer: (n // b, b, b)} of per-minibatch Grams (a short last batch is dropped).

    layers: names, or None for features.stages(model) (leaves, or residual blocks as a whole). Centring first
    changes neither CKA nor HSIC1 (both are translation invariant) and keeps the float32 product accurate. The full
    Gram costs n^2 p and keeps every layer's features (1,000 resnet18 inputs of 64 x 64: about 1 GB); minibatch
    CKA costs n b p, and its stacks n b per layer (minibatch.minibatch_cka keeps one batch and scalars).
    """
    layers = stages(model, x) if layers is None else ([layers] if isinstance(layers, str) else list(layers))

    def grams_of(xs, report=None):
        feats = layer_outputs(model, xs, layers, batch_size=batch_size, progress=report)
        out = {}
        for n in layers:
            f = feats.pop(n)  # drop each layer's features once its Gram is made: peak memory
            f = f - f.mean(0)
            out[n] = (f @ f.T).double()
        return out

    if minibatch is None:
        return grams_of(x, progress)
    if minibatch < 4 or minibatch > len(x):
        raise ValueError(f"minibatch must be in 4..{len(x)} (HSIC1 needs 4 examples); got {minibatch}")
    blocks = {n: [] for n in layers}
    n_batches = len(x) // minibatch
    for i in range(n_batches):
        for n, g in grams_of(x[i * minibatch:(i + 1) * minibatch]).items():
            blocks[n].append(g)
        if progress:
            progress(i + 1, n_batches, {"batch": i})
    return {n: torch.stack(g) for n, g in blocks.items()}
