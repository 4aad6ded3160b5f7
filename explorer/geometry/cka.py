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


def cka_matrix(grams_a: dict, grams_b: dict | None = None, debiased: bool = False, progress=None) -> CKAMatrix:
    """CKA of every pair of layers from their raw Gram matrices {name: (n, n)} (pure: no model runs here)."""
    same = grams_b is None
    grams_b = grams_a if same else grams_b
    ns = {len(g) for g in list(grams_a.values()) + list(grams_b.values())}
    if len(ns) > 1:
        raise ValueError(f"CKA compares the same examples: the layers were seen on {sorted(ns)} examples")
    ra, rb = list(grams_a), list(grams_b)
    if debiased:  # one HSIC1 per layer for the denominators
        selfa = {n: hsic1(g, g) for n, g in grams_a.items()}
        selfb = selfa if same else {n: hsic1(g, g) for n, g in grams_b.items()}
    else:
        ca = {n: _center(g) for n, g in grams_a.items()}
        cb = ca if same else {n: _center(g) for n, g in grams_b.items()}
        norm_a = {n: g.norm() for n, g in ca.items()}
        norm_b = norm_a if same else {n: g.norm() for n, g in cb.items()}
    out = np.full((len(ra), len(rb)), np.nan)
    total, done = len(ra) * len(rb), 0
    for i, a in enumerate(ra):
        for j, b in enumerate(rb):
            if same and j < i:
                out[i, j] = out[j, i]
            elif debiased:
                den = torch.sqrt(selfa[a] * selfb[b])
                out[i, j] = float(hsic1(grams_a[a], grams_b[b]) / den) if den > 0 else np.nan
            else:
                den = norm_a[a] * norm_b[b]
                out[i, j] = float((ca[a] * cb[b]).sum() / den) if den > 0 else np.nan
            done += 1
        if progress:
            progress(done, total, {"layer": a})
    return CKAMatrix(out, tuple(ra), tuple(rb), debiased)


def layer_grams(model: nn.Module, x: torch.Tensor, layers=None, batch_size: int = 128, progress=None) -> dict:
    """Gram matrices {layer: (n, n) float64} of each layer's flattened, column-centred outputs on x (runs the model).

    layers: names, or None for features.stages(model) (leaves, or residual blocks as a whole). Centring first
    changes neither CKA nor HSIC1 (both are translation invariant) and keeps the float32 product accurate: a
    float64 product of 1,000 x 65,536 features costs seconds per layer.
    """
    layers = stages(model, x) if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    feats = layer_outputs(model, x, layers, batch_size=batch_size, progress=progress)
    grams = {}
    for n in layers:
        f = feats.pop(n)  # drop each layer's features once its Gram is made: peak memory
        f = f - f.mean(0)
        grams[n] = (f @ f.T).double()
    return grams


def cka_layers(model_a: nn.Module, x: torch.Tensor, layers_a=None, model_b: nn.Module | None = None,
               layers_b=None, x_b: torch.Tensor | None = None, debiased: bool = False, progress=None) -> CKAMatrix:
    """CKA between every pair of layers of one model, or of model_a and model_b (same inputs unless x_b)."""
    ga = layer_grams(model_a, x, layers_a, progress=progress)
    gb = None if model_b is None else layer_grams(model_b, x if x_b is None else x_b, layers_b, progress=progress)
    return cka_matrix(ga, gb, debiased)
