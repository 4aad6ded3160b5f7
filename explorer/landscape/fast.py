"""Exact fast path for slices: the first layer is linear in its weights, so its output at every grid point is a sum.

layer(z; W + a D1 + b D2, c + a e1 + b e2) = layer(z; W, c) + a layer(z; D1, e1) + b layer(z; D2, e2) for a Conv or
Linear layer on an input z that no parameter touches. The three outputs are computed once per slice; each point's
first-layer output is one row sum (cached per alpha) plus one axpy, stored channels-last for 4-D maps (oneDNN's
ReLU, pooling and convolutions run about 3x faster on it than on NCHW on this machine's CPU). The rest of the
network runs as usual under inference_mode, so the result equals the eager path up to float rounding (tested
within 1e-5). The model is never written to: two hooks, active only on the calling thread, feed the sum in place of
the first layer's own output, and are removed on exit.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..train import eval_mode
from . import _functional as fn

LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass
class Plan:
    """Where the first layer is, what it receives (constant over the slice) and its three output terms."""

    name: str
    module: nn.Module
    terms: tuple  # (A0, A1, A2 or None): the layer's output at (W, c), (D1, e1), (D2, e2) for every input
    channels_last: bool


def _apply(m: nn.Module, z: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """The layer m on z with weight w and bias b (padding modes, stride and groups are the module's own)."""
    return F.linear(z, w, b) if isinstance(m, nn.Linear) else m._conv_forward(z, w, b)


def _first_layer(model: nn.Module, x: torch.Tensor):
    """(name, module, its input) of the first leaf module with parameters, if a Conv/Linear called once on x[:4]."""
    calls = []
    hooks = [m.register_forward_pre_hook(lambda m, i, n=n: calls.append((n, m, i[0] if i else None)))
             for n, m in model.named_modules() if not list(m.children())]
    try:
        with eval_mode(model), torch.no_grad():
            model(x[:4])
    finally:
        for h in hooks:
            h.remove()
    owners = [c for c in calls if list(c[1].parameters(recurse=False))]
    if not owners or not isinstance(owners[0][1], LINEAR) or not isinstance(owners[0][2], torch.Tensor):
        return None
    name, m, _ = owners[0]
    if sum(c[1] is m for c in calls) != 1:  # shared or reused layer: its output is not one sum
        return None
    return name, m


def _input_of(model: nn.Module, m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What m receives when the model runs on x (eval mode)."""
    seen = []
    h = m.register_forward_pre_hook(lambda mod, i: seen.append(i[0]))
    try:
        with eval_mode(model), torch.inference_mode():
            for i in range(0, len(x), fn.EVAL_BATCH):
                model(x[i:i + fn.EVAL_BATCH])
    finally:
        h.remove()
    return torch.cat(seen)


def plan(model: nn.Module, base: dict, d1: dict, d2: dict | None, x: torch.Tensor,
         budget: int) -> tuple[Plan | None, str]:
    """The fast path's plan for this slice, or None with the reason the eager path must run instead.

    budget: bytes the first layer's outputs may take (three terms and a cached row).
    """
    found = _first_layer(model, x)
    if found is None:
        return None, "eager: the first layer is not a Conv or Linear applied once"
    name, m = found
    z = _input_of(model, m, x)
    with torch.inference_mode():
        one = _apply(m, z[:1], base[f"{name}.weight"], None)
    need = 5 * len(z) * one.numel() * one.element_size()  # three terms, a cached row, the point's sum
    if need > budget:
        return None, f"eager: the first layer's outputs would take {need / 2**20:.0f} MiB"
    w, b = f"{name}.weight", f"{name}.bias"
    has_b = getattr(m, "bias", None) is not None
    with torch.inference_mode():
        terms = tuple(None if d is None else _apply(m, z, d[w], d[b] if has_b else None)
                      for d in (base, d1, d2))
    cl = terms[0].dim() == 4 and terms[0].device.type == "cpu"
    if cl:
        terms = tuple(None if t is None else t.contiguous(memory_format=torch.channels_last) for t in terms)
    p = Plan(name, m, terms, cl)
    checks = ((0.0, 0.0), (0.5, 0.0)) + (((0.0, 0.5),) if d2 is not None else ())
    for a, bb in checks:  # each direction alone: the sum must give the model's own logits
        params = {k: v + a * d1[k] + (0.0 if d2 is None else bb * d2[k]) for k, v in base.items()}
        with eval_mode(model), torch.inference_mode():
            eager = fn.forward(model, params, fn.base_buffers(model), x[:8]).float()
            with hooked(model, p) as feed:
                feed(_combine(p, a, bb, slice(0, 8)))
                quick = fn.forward(model, params, fn.base_buffers(model), x[:8]).float()
        if not torch.allclose(quick, eager, rtol=1e-4, atol=1e-5 * max(1.0, float(eager.abs().max()))):
            return None, f"eager: the fast path's check at ({a}, {bb}) differed (a parameter acts before {name}?)"
    return p, f"fast: first layer {name} as a sum of 3 outputs{', channels-last' if cl else ''}, inference_mode"


def _combine(p: Plan, a: float, b: float, rows: slice, row_cache: dict | None = None) -> torch.Tensor:
    """A0 + a A1 (+ b A2) on the given inputs as a new tensor (in-place layers may write to it); the row
    A0 + a A1 is cached per alpha in row_cache, so a 2-D slice costs one axpy per point."""
    a0, a1, a2 = (None if t is None else t[rows] for t in p.terms)
    if a2 is None or b == 0:
        return a0.clone() if a == 0 else torch.add(a0, a1, alpha=float(a))
    cache = {} if row_cache is None else row_cache
    if cache.get("alpha") != a:
        cache.clear()
        cache["alpha"] = a
    if rows.start not in cache:
        cache[rows.start] = a0 if a == 0 else torch.add(a0, a1, alpha=float(a))  # never handed out
    return torch.add(cache[rows.start], a2, alpha=float(b))


@contextlib.contextmanager
def hooked(model: nn.Module, p: Plan):
    """Within the block, the first layer (on this thread only) returns the tensor last given to feed()."""
    owner, box = threading.get_ident(), {}

    def pre(m, args):  # skip the layer's own work: an empty batch through it, replaced below
        if threading.get_ident() == owner and "out" in box:
            return (args[0][:0],) + tuple(args[1:])
        return None

    def post(m, args, out):
        if threading.get_ident() == owner and "out" in box:
            return box["out"]
        return None
    handles = [p.module.register_forward_pre_hook(pre), p.module.register_forward_hook(post)]
    try:
        yield lambda t: box.__setitem__("out", t)
    finally:
        for h in handles:
            h.remove()


def metrics_fast(model: nn.Module, p: Plan, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor,
                 a: float, b: float, row_cache: dict) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) at params like _functional.metrics, with the first layer's output summed."""
    total, correct = 0.0, 0
    with eval_mode(model), torch.inference_mode(), hooked(model, p) as feed:
        for i in range(0, len(x), fn.EVAL_BATCH):
            rows = slice(i, i + fn.EVAL_BATCH)
            feed(_combine(p, a, b, rows, row_cache))
            logits = fn.forward(model, params, buffers, x[rows]).float()
            if not torch.isfinite(logits).all():
                return float("nan"), float("nan")
            yb = y[rows]
            total += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    loss = total / max(len(x), 1)
    return (loss if loss == loss and abs(loss) != float("inf") else float("nan")), correct / max(len(x), 1)
