"""Exact fast path for slices: the first layer is linear in its weights, so its output at every grid point is a sum.

layer(z; W + a D1 + b D2, c + a e1 + b e2) = layer(z; W, c) + a layer(z; D1, e1) + b layer(z; D2, e2) for a Conv or
Linear layer on an input z that no parameter touches. The three outputs are computed once per slice; each point's
first-layer output is one row sum (cached per alpha) plus one axpy, stored channels-last for 4-D maps (oneDNN's
ReLU, pooling and convolutions run about 3x faster on it than on NCHW on this machine's CPU). The rest of the
network runs as usual under inference_mode, so the result equals the eager path up to float rounding (tested
within 1e-5). The model is never written to: two hooks, active only on the calling thread, feed the sum in place of
the first layer's own output, and are removed on exit. An eval-mode BatchNorm that reads a later conv's output as
it is (bn='keep': the running statistics are constants) is folded into that conv's weight and bias per point.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..capture import eval_mode
from ..layers import apply_layer
from . import functional as fn

LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass
class Plan:
    """Where the first layer is, what it receives (constant over the slice) and its three output terms."""

    name: str
    module: nn.Module
    terms: tuple  # (A0, A1, A2 or None): the layer's output at (W, c), (D1, e1), (D2, e2) for every input
    channels_last: bool
    folds: tuple = ()  # (conv name, conv, BN name, BN): eval-mode BatchNorm folded into the conv that feeds it


def _probe(model: nn.Module, x: torch.Tensor):
    """The first layer (name, module) if a Conv/Linear called once on x[:4] (else None), and the foldable pairs."""
    calls = []

    def pre(m, i, n):
        calls.append([n, m, i[0] if i else None, None, None])

    def post(m, i, o, n):
        for c in reversed(calls):
            if c[1] is m:
                c[3], c[4] = o, getattr(o, "_version", None)
                break
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    hooks = [m.register_forward_pre_hook(lambda m, i, n=n: pre(m, i, n)) for n, m in leaves]
    hooks += [m.register_forward_hook(lambda m, i, o, n=n: post(m, i, o, n)) for n, m in leaves]
    try:
        with eval_mode(model), torch.no_grad():
            model(x[:4])
    finally:
        for h in hooks:
            h.remove()
    owners = [c for c in calls if list(c[1].parameters(recurse=False))]
    if not owners or not isinstance(owners[0][1], LINEAR) or not isinstance(owners[0][2], torch.Tensor):
        return None, ()
    first = owners[0][1]
    once = {id(c[1]) for c in calls if sum(d[1] is c[1] for d in calls) == 1}
    folds = tuple((c[0], c[1], d[0], d[1]) for c, d in zip(calls, calls[1:], strict=False)
                  if isinstance(c[1], (nn.Conv2d, nn.Conv1d, nn.Conv3d)) and c[1] is not first
                  and isinstance(d[1], fn.BN) and d[1].running_mean is not None
                  and d[2] is c[3] and c[4] == getattr(d[2], "_version", None)  # BN reads the conv output as is
                  and id(c[1]) in once and id(d[1]) in once)
    return ((owners[0][0], first) if id(first) in once else None), folds


def _first_layer(model: nn.Module, x: torch.Tensor):
    """(name, module) of the first leaf module with parameters, if a Conv/Linear called once on x[:4]."""
    return _probe(model, x)[0]


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
    found, folds = _probe(model, x)
    if found is None:
        return None, "eager: the first layer is not a Conv or Linear applied once"
    name, m = found
    z = _input_of(model, m, x)
    with torch.inference_mode():
        one = apply_layer(m, z[:1], base[f"{name}.weight"], None)
    need = 5 * len(z) * one.numel() * one.element_size()  # three terms, a cached row, the point's sum
    if need > budget:
        return None, f"eager: the first layer's outputs would take {need / 2**20:.0f} MiB"
    w, b = f"{name}.weight", f"{name}.bias"
    has_b = getattr(m, "bias", None) is not None
    with torch.inference_mode():
        terms = tuple(None if d is None else apply_layer(m, z, d[w], d[b] if has_b else None)
                      for d in (base, d1, d2))
    cl = terms[0].dim() == 4 and terms[0].device.type == "cpu"
    if cl:
        terms = tuple(None if t is None else t.contiguous(memory_format=torch.channels_last) for t in terms)
    p = Plan(name, m, terms, cl, folds)
    checks = ((0.0, 0.0), (0.5, 0.0)) + (((0.0, 0.5),) if d2 is not None else ())
    for a, bb in checks:  # each direction alone: the sum must give the model's own logits
        params = {k: v + a * d1[k] + (0.0 if d2 is None else bb * d2[k]) for k, v in base.items()}
        with eval_mode(model), torch.inference_mode():
            eager = fn.forward(model, params, fn.base_buffers(model), x[:8]).float()
            buffers = fn.base_buffers(model)
            with hooked(model, p) as box:
                box.update(out=_combine(p, a, bb, slice(0, 8)), folded=folded(p, params, buffers))
                quick = fn.forward(model, params, buffers, x[:8]).float()
        if not torch.allclose(quick, eager, rtol=1e-4, atol=1e-5 * max(1.0, float(eager.abs().max()))):
            return None, f"eager: the fast path's check at ({a}, {bb}) differed (a parameter acts before {name}?)"
    bn = f", BatchNorm folded into {', '.join(f[0] for f in folds)}" if folds else ""
    return p, f"fast: first layer {name} as a sum of 3 outputs{', channels-last' if cl else ''}{bn}, inference_mode"


def folded(p: Plan, params: dict, buffers: dict) -> dict:
    """Per fold, the conv's weight and bias with the eval-mode BatchNorm after it folded in: W s, (b - mu) s + beta."""
    out = {}
    for cname, _conv, bname, bn in p.folds:
        w = params[f"{cname}.weight"]
        s = torch.rsqrt(buffers[f"{bname}.running_var"] + bn.eps)
        if bn.affine:
            s = s * params[f"{bname}.weight"]
        b = params.get(f"{cname}.bias")
        shift = -buffers[f"{bname}.running_mean"] * s if b is None else (b - buffers[f"{bname}.running_mean"]) * s
        if bn.affine:
            shift = shift + params[f"{bname}.bias"]
        out[cname] = (w * s.view(-1, *([1] * (w.dim() - 1))), shift)
    return out


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
    """Within the block (on this thread only) the first layer returns box['out'], each folded conv computes with
    box['folded'][name] and the BatchNorm after it passes its input through. Yields box."""
    owner, box = threading.get_ident(), {}
    mine = lambda: threading.get_ident() == owner and "out" in box  # noqa: E731

    def skip(m, args):  # the module's own work on an empty batch; its output is replaced below
        return (args[0][:0],) + tuple(args[1:]) if mine() else None

    def first(m, args, out):
        return box["out"] if mine() else None

    def stash(m, args):
        if mine():
            box[id(m)] = args[0]
            return (args[0][:0],) + tuple(args[1:])
        return None

    def conv(m, args, out, name):
        return apply_layer(m, box.pop(id(m)), *box["folded"][name]) if mine() else None

    def through(m, args, out):
        return box.pop(id(m)) if mine() else None
    handles = [p.module.register_forward_pre_hook(skip), p.module.register_forward_hook(first)]
    for cname, c, _, bn in p.folds:
        handles += [c.register_forward_pre_hook(stash),
                    c.register_forward_hook(lambda m, a, o, n=cname: conv(m, a, o, n)),
                    bn.register_forward_pre_hook(stash), bn.register_forward_hook(through)]
    try:
        yield box
    finally:
        for h in handles:
            h.remove()


def metrics_fast(model: nn.Module, p: Plan, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor,
                 a: float, b: float, row_cache: dict) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) at params like functional.metrics, with the first layer's output summed."""
    total, correct = 0.0, 0
    with eval_mode(model), torch.inference_mode(), hooked(model, p) as box:
        box["folded"] = folded(p, params, buffers)
        for i in range(0, len(x), fn.EVAL_BATCH):
            rows = slice(i, i + fn.EVAL_BATCH)
            box["out"] = _combine(p, a, b, rows, row_cache)
            logits = fn.forward(model, params, buffers, x[rows]).float()
            if not torch.isfinite(logits).all():
                return float("nan"), float("nan")
            yb = y[rows]
            total += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    loss = total / max(len(x), 1)
    return (loss if loss == loss and abs(loss) != float("inf") else float("nan")), correct / max(len(x), 1)
