"""Minibatch CKA in a memory fixed by the batch, not the data (Nguyen, Raghu & Kornblith 2021, eq. 3).

Per batch, one forward per model and one Gram matrix per layer; per layer pair, HSIC(K, L), HSIC(K, K) and
HSIC(L, L) are summed over the batches, and CKA = sum HSIC(K, L) / sqrt(sum HSIC(K, K) sum HSIC(L, L)). Memory: one
batch's activations, (layers, b, b) Grams and (layers_a x layers_b) scalars, whatever the number of inputs.
"""
from __future__ import annotations

import torch
from torch import nn

from ..capture import eval_mode
from ..device import model_device
from ..layers import resolve
from .cka import CKAMatrix, cka_matrix, layer_grams
from .features import stages


def batch_grams(model: nn.Module, xb: torch.Tensor, layers: list[str]) -> torch.Tensor:
    """(L, b, b) float64 Grams of each layer's flattened, column-centred outputs on one batch (on the model's device,
    in its dtype until the Gram; a layer run twice gives its last call, as capture() does).

    The Gram is made inside each layer's forward hook: no layer's features are kept or cloned (capture() clones
    every output, 15% of the CPU time on resnet18), and one that an in-place op rewrites later is read before it.
    """
    if not torch.isfinite(xb).all():  # per batch: a check of all inputs at once would take their size
        raise ValueError("the inputs contain NaN or inf")
    grams = {}

    def hook(name):
        def on_output(module, inputs, output):
            f = output.detach().flatten(1)
            f = f - f.mean(0)  # centring changes neither HSIC: it keeps the float32 product accurate
            grams[name] = (f @ f.T).double()
        return on_output
    handles = [m.register_forward_hook(hook(n)) for n, m in resolve(model, layers).items()]
    try:
        with torch.no_grad(), eval_mode(model):
            model(xb.to(model_device(model)))
    finally:
        for h in handles:
            h.remove()
    return torch.stack([grams[n] for n in layers])


def _center(k: torch.Tensor) -> torch.Tensor:
    """H K H for each of a stack (L, n, n)."""
    k = k - k.mean(1, keepdim=True)
    return k - k.mean(2, keepdim=True)


def hsic_pairs(ka: torch.Tensor, kb: torch.Tensor, debiased: bool = True) -> torch.Tensor:
    """(La, Lb) HSIC of every pair from stacks of raw Grams (La, n, n) and (Lb, n, n): HSIC1 (Song et al. 2012,
    n >= 4) or the biased <HKH, HLH> (without its 1/(n-1)^2, which cancels in CKA)."""
    n = ka.shape[-1]
    if not debiased:
        return _center(ka).flatten(1) @ _center(kb).flatten(1).T
    if n < 4:
        raise ValueError(f"debiased CKA needs batches of at least 4 examples; got {n}")
    eye = torch.eye(n, dtype=torch.bool, device=ka.device)
    ka, kb = ka.masked_fill(eye, 0), kb.masked_fill(eye, 0)  # K~: the diagonal zeroed
    ca, cb = ka.sum(1), kb.sum(1)  # (L, n) column sums
    tr = ka.flatten(1) @ kb.flatten(1).T  # tr(K~ L~), both symmetric
    return (tr + torch.outer(ca.sum(1), cb.sum(1)) / ((n - 1) * (n - 2)) - 2 * ca @ cb.T / (n - 2)) / (n * (n - 3))


def _self(k: torch.Tensor, debiased: bool) -> torch.Tensor:
    """(L,) HSIC(K, K) of each Gram of a stack."""
    return torch.stack([hsic_pairs(g[None], g[None], debiased)[0, 0] for g in k])


def minibatch_cka(model_a: nn.Module, x: torch.Tensor, layers_a=None, model_b: nn.Module | None = None,
                  layers_b=None, x_b: torch.Tensor | None = None, batch: int = 256, debiased: bool = True,
                  progress=None) -> CKAMatrix:
    """CKA of every layer pair of one model (or of model_a and model_b) accumulated over batches of `batch` inputs
    (a short last batch is dropped: the estimator sums batches of one size). layers None: features.stages.

    With batch = len(x) it is the full-batch CKA (debiased: HSIC1, what linear_cka(debiased=True) computes).
    """
    if not 4 <= batch <= len(x):
        raise ValueError(f"minibatch must be in 4..{len(x)} (the inputs; HSIC1 needs 4 examples); got {batch}")
    if x_b is not None and len(x_b) != len(x):
        raise ValueError(f"CKA compares the same examples: got {len(x)} and {len(x_b)} inputs")
    same = model_b is None and layers_b is None and x_b is None
    model_b = model_a if model_b is None else model_b
    x_b = x if x_b is None else x_b

    def names(m, layers):
        return stages(m, x) if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    ra, rb = names(model_a, layers_a), names(model_b, layers_b)
    xy = xx = yy = None
    n_batches = len(x) // batch
    for i in range(n_batches):
        ka = batch_grams(model_a, x[i * batch:(i + 1) * batch], ra)
        kb = ka if same else batch_grams(model_b, x_b[i * batch:(i + 1) * batch], rb)
        pair = hsic_pairs(ka, kb, debiased)
        sa = pair.diagonal() if same else _self(ka, debiased)
        sb = sa if same else _self(kb, debiased)
        xy, xx, yy = (pair, sa, sb) if xy is None else (xy + pair, xx + sa, yy + sb)
        if progress:
            progress(i + 1, n_batches, {"batch": i})
    den = torch.sqrt(torch.outer(xx, yy))  # NaN where a self-HSIC is negative, as in cka_matrix
    vals = torch.where(den > 0, xy / den, torch.full_like(xy, float("nan")))
    return CKAMatrix(vals.cpu().numpy(), tuple(ra), tuple(rb), debiased)


def cka_layers(model_a: nn.Module, x: torch.Tensor, layers_a=None, model_b: nn.Module | None = None,
               layers_b=None, x_b: torch.Tensor | None = None, debiased: bool = False, minibatch: int | None = None,
               progress=None) -> CKAMatrix:
    """CKA between every pair of layers of one model, or of model_a and model_b (same inputs unless x_b), from
    full Gram matrices; minibatch=b: minibatch_cka (Nguyen et al. 2021; debiased=True is what pytorch-cka computes)."""
    if minibatch is not None:
        return minibatch_cka(model_a, x, layers_a, model_b, layers_b, x_b, minibatch, debiased, progress)
    ga = layer_grams(model_a, x, layers_a, progress=progress)
    gb = None if model_b is None else layer_grams(model_b, x if x_b is None else x_b, layers_b, progress=progress)
    return cka_matrix(ga, gb, debiased)
