"""Per-layer Hessian spectra (PyHessian #9, #10): the top eigenvalues and trace of each parameter group's diagonal
block of the Hessian, and the Hessian of the loss with respect to a layer's activations (PyHessian #13)."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..capture import capture, eval_mode
from ..device import model_device
from . import functional as fn
from .hessian import HessianOperator, Trace, top_eigen, trace


class GroupSpectrum(NamedTuple):
    """One parameter group's Hessian block: top eigenvalues (largest magnitude first), its trace with the standard
    error of the Hutchinson mean (0 for the exact trace), the samples, and the Hessian-vector products used."""

    group: str
    dim: int
    top: list[float]
    trace: float
    trace_se: float
    samples: list[float]
    hvps: int


def parameter_groups(model: nn.Module, by: str = "layer") -> list[str]:
    """Module names whose parameters form a group: 'layer' each module holding parameters itself (conv, linear,
    norm), 'block' each top-level child holding any (resnet18: conv1, bn1, layer1, ..., layer4, fc)."""
    if by == "layer":
        return [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    if by == "block":
        return [n for n, m in model.named_children() if any(True for _ in m.parameters())]
    raise ValueError(f"unknown grouping {by!r}; choose 'layer' or 'block'")


def exact_trace(op: HessianOperator) -> Trace:
    """The trace as sum_i e_i^T H e_i over the whole basis: exact, op.dim products (one 'sample': the total)."""
    ref = next(iter(op.params.values()))
    eye = torch.zeros(op.dim, dtype=ref.dtype, device=ref.device)
    total = torch.zeros((), dtype=torch.float64, device=ref.device)
    for i in range(op.dim):
        eye[i] = 1
        total += op.matvec(eye)[i].double()
        eye[i] = 0
    return Trace(total.item(), [total.item()])


def group_spectrum(op: HessianOperator, group: str, k: int = 1, trace_samples: int = 50, tol: float = 1e-3,
                   trace_tol: float = 0.0, seed: int = 0, exact: bool = False, max_iter: int = 100) -> GroupSpectrum:
    """Top-k eigenvalues (top_eigen, Lanczos' residual rule tol) and trace of op: Hutchinson with trace_samples
    Rademacher vectors (all of them for trace_tol=0; else stop once 2 SE <= trace_tol |mean|) or, exact=True, over
    the whole basis. max_iter: Lanczos' Krylov dimension at most."""
    top, _ = top_eigen(op, k=min(k, op.dim), tol=tol, seed=seed, max_iter=max_iter)
    tr = exact_trace(op) if exact else trace(op, max_iter=trace_samples, tol=trace_tol, seed=seed,
                                             min_samples=min(10, trace_samples))
    op.release()
    return GroupSpectrum(group, op.dim, top, tr.estimate, 0.0 if exact else tr.se, tr.samples, op.hvps)


def layer_spectra(model: nn.Module, x: torch.Tensor, y: torch.Tensor, groups=None, k: int = 1,
                  trace_samples: int = 50, tol: float = 1e-3, seed: int = 0, exact: bool = False,
                  max_iter: int = 100, progress=None) -> list[GroupSpectrum]:
    """group_spectrum of the mean cross-entropy's Hessian block of each parameter group, in depth order.

    groups: module names, 'layer' or 'block' (parameter_groups), None for 'layer'. Each block is the Hessian
    w.r.t. that group's parameters with every other parameter fixed: the diagonal blocks of the full Hessian.
    """
    names = parameter_groups(model, groups or "layer") if groups is None or isinstance(groups, str) else list(groups)
    out = []
    for i, g in enumerate(names):
        op = HessianOperator.of(model, x, y, layers=[g])
        out.append(group_spectrum(op, g, k, trace_samples, tol, seed=seed, exact=exact, max_iter=max_iter))
        if progress:
            progress(i + 1, len(names), {"group": g})
    return out


def activation_operator(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layer: str) -> HessianOperator:
    """The Hessian of the mean cross-entropy w.r.t. `layer`'s output on x (dim: its size over all of x; a module
    run more than once is refused). Its products rerun the model with that output replaced (a hook during the
    forward only); the weights are the model's, detached: its .grad stays empty."""
    device = model_device(model)
    x, y = x.to(device), y.to(device)
    base, buffers = fn.base_params(model), fn.base_buffers(model)
    with torch.no_grad(), eval_mode(model), capture(model, [layer]) as rec:
        model(x)
        if rec.calls(layer) != 1:
            raise ValueError(f"layer {layer!r} runs {rec.calls(layer)} times in a forward pass; choose one run once")
        act = rec.output(layer)
    if not isinstance(act, torch.Tensor):
        raise ValueError(f"layer {layer!r} does not output one tensor")
    module = dict(model.named_modules())[layer]
    key = f"{layer}:output"

    def loss_fn(p):
        # the rest of the model runs from p (a clone: an in-place ReLU may follow)
        handle = module.register_forward_hook(lambda m, i, o: p[key].clone())
        try:
            with eval_mode(model):
                return F.cross_entropy(fn.forward(model, base, buffers, x), y)
        finally:
            handle.remove()
    return HessianOperator(loss_fn, {key: act.detach().clone().requires_grad_(True)})


def activation_spectra(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers, k: int = 1, tol: float = 1e-3,
                       seed: int = 0, max_iter: int = 100, progress=None) -> dict[str, list[float]]:
    """{layer: top-k eigenvalues of the loss's Hessian w.r.t. that layer's output} (activation_operator)."""
    layers = [layers] if isinstance(layers, str) else list(layers)
    out = {}
    for i, name in enumerate(layers):
        op = activation_operator(model, x, y, name)
        out[name] = top_eigen(op, k=min(k, op.dim), tol=tol, seed=seed, max_iter=max_iter)[0]
        op.release()
        if progress:
            progress(i + 1, len(layers), {"layer": name})
    return out
