"""1-D and 2-D slices f(a, b) = L(theta + a d1 + b d2) on a centred grid, coarse to fine (Li et al. 2018)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..device import free_bytes, model_device
from . import fast
from . import functional as fn
from .vmap import vmap_chunk, vmap_metrics

BN_POLICIES = ("keep", "recompute")
BACKENDS = ("auto", "eager", "fast", "vmap")
MAX_POINTS_PER_AXIS = 401


def axis(span: float, n: int) -> np.ndarray:
    """n evenly spaced values on [-span, span] with 0 exactly at the centre index (n odd)."""
    if not np.isfinite(span) or span <= 0:
        raise ValueError(f"the range must be a positive number; got {span!r} (a zero range has no landscape)")
    if n < 3 or n % 2 == 0:
        raise ValueError(f"the resolution must be odd and >= 3 so the origin is a grid point; got {n}")
    if n > MAX_POINTS_PER_AXIS:
        raise ValueError(f"at most {MAX_POINTS_PER_AXIS} points per axis; got {n}")
    c = (n - 1) // 2
    return (np.arange(n) - c) * (span / c)  # integer offsets times one step: the centre is exactly 0


def preview_indices(n: int, stride: int) -> np.ndarray:
    """Indices of the coarse sub-grid: every stride-th point counted from the centre (so it contains 0)."""
    c = (n - 1) // 2
    return np.arange(n)[(np.arange(n) - c) % max(stride, 1) == 0]


@dataclass
class Surface:
    """Loss and accuracy on a grid: arrays indexed [i] (1-D) or [i, j] for (alphas[i], betas[j])."""

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray
    accuracy: np.ndarray
    done: np.ndarray  # bool, same shape: which points are computed (NaN loss where done means non-finite)
    preview: np.ndarray  # the coarse sub-grid's indices along each axis
    path: str = "eager"  # which evaluation ran ('eager', 'vmap' or 'fast: ...', or why the fast one did not)

    @property
    def complete(self) -> bool:
        """All points computed."""
        return bool(self.done.all())

    def origin(self) -> tuple[float, float]:
        """(loss, accuracy) at the origin."""
        c = (len(self.alphas) - 1) // 2
        idx = (c,) if self.betas is None else (c, (len(self.betas) - 1) // 2)
        return float(self.loss[idx]), float(self.accuracy[idx])

    def filled(self, which: str = "loss") -> np.ndarray:
        """The values with not-yet-computed points taken from the nearest preview point (for drawing)."""
        v = getattr(self, which)
        if self.complete:
            return v
        near = np.array([self.preview[np.abs(self.preview - i).argmin()] for i in range(len(self.alphas))])
        coarse = v[np.ix_(near, near)] if v.ndim == 2 else v[near]
        return np.where(self.done, v, coarse)


def _points(n: int, two_d: bool, stride: int) -> list[tuple]:
    """Grid indices, preview sub-grid first, then the rest row by row."""
    pre = set(preview_indices(n, stride).tolist())
    grid = [(i, j) for i in range(n) for j in range(n)] if two_d else [(i,) for i in range(n)]
    first = [p for p in grid if all(k in pre for k in p)]
    return first + [p for p in grid if not all(k in pre for k in p)]


def choose_backend(device: torch.device, backend: str, bn: str) -> str:
    """'vmap' on GPUs, the exact fast path on the CPU (vmap measured 1.9x slower there), eager for BN recomputation.

    The fast path needs bn='keep': recomputing the statistics is a train-mode pass at each point's weights.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        if bn != "keep":
            return "eager"
        return "vmap" if device.type == "cuda" else "fast"
    if backend in ("vmap", "fast") and bn != "keep":
        raise ValueError(f"the {backend} backend needs bn='keep'; recomputing BatchNorm statistics runs eagerly")
    return backend


def slice_grid(model: nn.Module, x: torch.Tensor, y: torch.Tensor, d1: dict, d2: dict | None = None,
               span: float = 1.0, n: int = 21, preview: int = 3, bn: str = "keep", bn_x: torch.Tensor | None = None,
               backend: str = "auto", chunk: int | None = None, callback=None) -> Surface:
    """Loss and accuracy of theta + a d1 (+ b d2) on (x, y) for a, b on axis(span, n); the model is untouched.

    preview: stride of the coarse sub-grid computed first (1 = no preview). bn: 'keep' the running statistics or
    'recompute' them at each point on bn_x (a train batch). callback(done, total, surface) once the preview
    is complete, then after each further row.
    backend: 'auto' (vmap on CUDA, otherwise 'fast' with bn='keep' and 'eager' with 'recompute'), 'eager' (the
    reference), 'fast' (exact: the first layer's output as a sum, see fast.py; eager where it does not apply) or
    'vmap'; chunk: points per vmap call (None: from an estimate of free memory, halved on out-of-memory).
    The Surface's `path` says which ran.
    """
    if bn not in BN_POLICIES:
        raise ValueError(f"unknown BatchNorm policy {bn!r}; choose one of {', '.join(BN_POLICIES)}")
    if bn == "recompute" and bn_x is None:
        raise ValueError("bn='recompute' needs bn_x, a batch of training inputs")
    alphas = axis(span, n)
    betas = None if d2 is None else axis(span, n)
    device = model_device(model)
    x, y = x.to(device), y.to(device)
    base, buffers = fn.base_params(model), fn.base_buffers(model)
    d1, d2 = on_params(d1, base, "d1"), None if d2 is None else on_params(d2, base, "d2")
    shape = (n,) if betas is None else (n, n)
    surf = Surface(alphas, betas, np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, bool),
                   preview_indices(n, preview))
    points = _points(n, betas is not None, preview)
    per_point = fn.check_fits(model, x, len(points))
    mode = choose_backend(device, backend, bn)
    coef = [(alphas[p[0]], 0.0 if betas is None else betas[p[1]]) for p in points]
    size = {"chunk": (chunk or vmap_chunk(model, per_point, len(points))) if mode == "vmap" else None}
    plan, surf.path = None, mode
    if mode == "fast":
        plan, surf.path = fast.plan(model, base, d1, d2, x, budget=free_bytes(device) // 4)
    n_pre = len(surf.preview) ** len(shape) if preview > 1 else 0
    done = 0
    for phase in (coef[:n_pre], coef[n_pre:]):  # the preview sub-grid first, reported once it is complete
        if mode == "vmap":
            run = vmap_metrics(model, base, buffers, d1, d2, x, y, phase, size)
        elif plan is not None:
            run = _fast(model, plan, base, buffers, d1, d2, x, y, phase, block=max(n, 1))
        else:
            run = _eager(model, base, buffers, d1, d2, x, y, phase, bn, bn_x, block=max(n, 1))
        for results in run:
            for loss, acc in results:
                p = points[done]
                surf.loss[p], surf.accuracy[p], surf.done[p] = loss, acc, True
                done += 1
            if callback is not None and done >= n_pre:
                callback(done, len(points), surf)
    return surf


def on_params(d: dict, base: dict, what: str = "a direction") -> dict:
    """A direction checked against the parameters (names, shapes, finite values) and moved to their device and
    dtype: a NaN in it would give NaN losses and predictions of class 0 everywhere, without a word."""
    if not isinstance(d, dict) or set(d) != set(base):
        raise KeyError(f"{what} must be a dict covering exactly the model's parameters {list(base)[:6]}...")
    bad = [k for k in base if d[k].shape != base[k].shape]
    if bad:
        raise ValueError(f"{what}'s shapes differ from the parameters' at {bad[:3]}")
    # a float32 sum per tensor is finite when every value is (directions are weight-sized: no overflow); the
    # elementwise test, 15x slower on a resnet18, runs only to confirm a non-finite sum
    bad = [k for k, v in d.items() if not torch.isfinite(v.sum()) and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{what} holds NaN or inf in {', '.join(bad[:3])}: make the direction again (a random or "
                         f"PCA direction of finite weights is finite)")
    return {k: d[k].to(device=w.device, dtype=w.dtype) for k, w in base.items()}


def _eager(model, base, buffers, d1, d2, x, y, coef, bn, bn_x, block):
    """Yield lists of (loss, accuracy), one point at a time, each from the base weights (no drift)."""
    bn_x = None if bn_x is None else bn_x.to(x.device)
    out, params = [], {k: torch.empty_like(w) for k, w in base.items()}  # reused: no allocation per point
    for a, b in coef:
        for k, w in base.items():
            torch.add(w, d1[k], alpha=float(a), out=params[k])
            if d2 is not None:
                params[k].add_(d2[k], alpha=float(b))
        bufs = fn.recompute_bn(model, params, buffers, bn_x) if bn == "recompute" else buffers
        out.append(fn.metrics(model, params, bufs, x, y))
        if len(out) == block:
            yield out
            out = []
    if out:
        yield out


def _fast(model, plan, base, buffers, d1, d2, x, y, coef, block):
    """As _eager, with the first layer's output summed from the plan's three terms (bn='keep' only)."""
    out, params, rows = [], {k: torch.empty_like(w) for k, w in base.items()}, {}
    for a, b in coef:
        for k, w in base.items():
            torch.add(w, d1[k], alpha=float(a), out=params[k])
            if d2 is not None:
                params[k].add_(d2[k], alpha=float(b))
        out.append(fast.metrics_fast(model, plan, params, buffers, x, y, float(a), float(b), rows))
        if len(out) == block:
            yield out
            out = []
    if out:
        yield out


def point(w: torch.Tensor, d1: torch.Tensor, a: float, d2: torch.Tensor | None, b: float) -> torch.Tensor:
    """w + a d1 + b d2 as a new tensor (exactly w at a = b = 0)."""
    p = torch.add(w, d1, alpha=float(a))
    return p if d2 is None else p.add_(d2, alpha=float(b))


def estimate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int = 21, two_d: bool = True,
             bn: str = "keep", bn_x: torch.Tensor | None = None, backend: str = "auto", n_inputs: int | None = None,
             n_bn: int | None = None, session=None) -> dict:
    """A slice's cost before it starts: a grid point of the path slice_grid runs, timed, times the points, plus
    the set-up (the first layer's outputs of the fast path: about one forward over the inputs).

    x, y (and bn_x) may be a few of the inputs: n_inputs (n_bn) is how many the slice evaluates (default len(x)):
    the point is timed on a batch of them (explorer.estimates.timed; memoised in `session` if given). Returns
    points, seconds_per_point, seconds (the whole grid), bytes_per_point, bytes_available (the device's
    available memory), fits (one point fits) and backend (the one 'auto' picks; 'vmap' is timed as eager, so for
    it the estimate is an upper bound).
    """
    from .. import estimates

    if bn not in BN_POLICIES:
        raise ValueError(f"unknown BatchNorm policy {bn!r}; choose one of {', '.join(BN_POLICIES)}")
    if bn == "recompute" and bn_x is None:
        raise ValueError("bn='recompute' needs bn_x, a batch of training inputs")
    axis(1.0, n)  # the same checks on n as the slice
    device = model_device(model)
    n_inputs = len(x) if n_inputs is None else int(n_inputs)
    n_bn = (0 if bn_x is None else len(bn_x)) if n_bn is None else int(n_bn)
    x, y = x.to(device), y.to(device)
    base, buffers = fn.base_params(model), fn.base_buffers(model)
    param = sum(p.numel() * p.element_size() for p in model.parameters())
    per_point = n_inputs * fn.activation_bytes(model, x) + 3 * param
    mode = choose_backend(device, backend, bn)
    zero = {k: torch.zeros_like(w) for k, w in base.items()}  # the directions: a point costs the same along any
    path, plans = "eager", {}
    if mode == "fast":  # does the fast path apply? (the plan of 2 inputs: its probe and checks)
        plans[2] = fast.plan(model, base, zero, zero if two_d else None, estimates.repeat(x, 2),
                             fn.free_bytes(device))[0]
        path = "fast" if plans[2] else "eager"

    def point(b):  # the evaluation of one grid point on b inputs, as the path runs it
        xb, yb = estimates.repeat(x, b), estimates.repeat(y, b)
        if path == "fast":
            plan = plans.get(b) or fast.plan(model, base, zero, zero if two_d else None, xb, fn.free_bytes(device))[0]
            return lambda: fast.metrics_fast(model, plan, base, buffers, xb, yb, 0.5, 0.5, {})
        return lambda: fn.metrics(model, base, buffers, xb, yb)

    def recompute(b):
        xb = estimates.repeat(bn_x.to(device), b)
        return lambda: fn.recompute_bn(model, base, buffers, xb)
    key = ("slice-point", path, tuple(x.shape[1:]), two_d)
    batch = min(n_inputs, fn.EVAL_BATCH)
    sec = estimates.over(n_inputs, batch, estimates.calibrated(session, key, point, batch, device))
    if bn == "recompute":
        sec += estimates.calibrated(session, ("slice-bn", tuple(x.shape[1:])), recompute, n_bn, device)
    setup = estimates.forwards(model, x, n_inputs, session=session) if path == "fast" else 0.0
    points = n * n if two_d else n
    available = free_bytes(device)
    return {"points": points, "seconds_per_point": sec, "setup_seconds": setup, "seconds": setup + sec * points,
            "bytes_per_point": per_point, "bytes_available": available, "fits": per_point <= available,
            "backend": mode}
