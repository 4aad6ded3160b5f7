"""Estimates of the landscape lab's jobs (explorer.estimates): slices and Hessian-vector products."""
from __future__ import annotations

from ..estimates import HVP_PER_GRAD, activation_bytes, param_bytes, timed_pass
from ..jobs import Estimate


def slice_(session, x, y, n: int, bn: str, bn_x=None) -> Estimate:
    """slices.estimate: one timed grid point times the points; the memory of one point and the results."""
    from .slices import estimate

    e = estimate(session.model, x, y, n=n, two_d=True, bn=bn, bn_x=bn_x)
    return Estimate(e["seconds"], e["bytes_per_point"] + e["points"] * 16,
                    f"{e['points']} points x {e['seconds_per_point'] * 1e3:.1f} ms")


def hvps(session, x, count: int) -> Estimate:
    """count Hessian-vector products on x: each about HVP_PER_GRAD forwards and backwards; the retained graph."""
    sec = timed_pass(session.model, x, grad=True) * HVP_PER_GRAD * count
    return Estimate(sec, 3 * len(x) * activation_bytes(session.model, x) + 6 * param_bytes(session.model),
                    f"{count} Hessian-vector products on {len(x)} inputs")


def top_hvps(model, k: int) -> int:
    """Products top_eigen(k) runs: the dense Hessian's columns for small models, else a Lanczos run."""
    from .hessian import DENSE_MAX

    dim = sum(p.numel() for p in model.parameters())
    return dim if dim <= DENSE_MAX else min(100, 3 * k + 5)  # Lanczos: 9 for k = 2, 11 for k = 3 measured


def spectrum_hvps(model, k: int, iters: int = 40, trace: int = 200) -> int:
    """Products spectrum() runs: the top k, the trace at its cap of `trace` samples (it stops earlier once its
    standard error is small, which on the trained default CNN it never is) and the density's iterations."""
    return top_hvps(model, k) + trace + min(iters, sum(p.numel() for p in model.parameters()))
