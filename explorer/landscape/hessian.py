"""Hessian of the loss by Hessian-vector products: top-k eigenpairs, Hutchinson trace, SLQ density (PyHessian)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..device import model_device
from ..train import eval_mode
from . import _functional as fn


class HessianOperator:
    """v -> H v for a scalar loss of a dict of parameters, by double backward on one retained graph."""

    def __init__(self, loss_fn, params: dict[str, torch.Tensor], full: dict[str, torch.Tensor] | None = None):
        self.loss_fn, self.params, self.full = loss_fn, params, full or params
        self._grad = None

    @classmethod
    def of(cls, model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers=None) -> HessianOperator:
        """The Hessian of the mean cross-entropy on (x, y) w.r.t. all parameters or those of `layers` (eval mode)."""
        base, buffers = fn.base_params(model), fn.base_buffers(model)
        names = list(base)
        if layers:
            layers = [layers] if isinstance(layers, str) else list(layers)
            names = [n for n in base if any(n == p or n.startswith(p + ".") for p in layers)]
            if not names:
                mods = sorted({n.rsplit(".", 1)[0] for n in base})
                raise KeyError(f"no parameters in layers {layers}; choose among {mods}")
        device = model_device(model)
        x, y = x.to(device), y.to(device)
        params = {n: base[n].clone().requires_grad_(True) for n in names}  # copies: the model's .grad stays empty

        def loss_fn(p):
            with eval_mode(model):
                return F.cross_entropy(fn.forward(model, {**base, **p}, buffers, x), y)
        return cls(loss_fn, params, base)

    @property
    def dim(self) -> int:
        """Number of parameters the Hessian is taken over."""
        return sum(p.numel() for p in self.params.values())

    def _flat_grad(self) -> torch.Tensor:
        if self._grad is None:
            with torch.enable_grad():
                g = torch.autograd.grad(self.loss_fn(self.params), list(self.params.values()), create_graph=True)
            self._grad = torch.cat([t.reshape(-1) for t in g])
        return self._grad

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H v for a flat vector v of length dim."""
        g = self._flat_grad()
        with torch.enable_grad():
            hv = torch.autograd.grad(g @ v, list(self.params.values()), retain_graph=True)
        return torch.cat([t.reshape(-1) for t in hv]).detach()

    def release(self) -> None:
        """Free the retained graph."""
        self._grad = None

    def random(self, gen: torch.Generator, rademacher: bool = False) -> torch.Tensor:
        """A flat N(0, 1) (or Rademacher) vector drawn on the CPU from gen, moved to the parameters' device."""
        ref = next(iter(self.params.values()))
        v = torch.randn(self.dim, generator=gen, dtype=torch.float64)
        return (v.sign() if rademacher else v).to(device=ref.device, dtype=ref.dtype)

    def to_dict(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """A flat vector as a direction over all parameters (zero outside the Hessian's parameters)."""
        out, i = {}, 0
        for n, w in self.full.items():
            if n in self.params:
                out[n] = v[i:i + w.numel()].reshape(w.shape).detach().clone()
                i += w.numel()
            else:
                out[n] = torch.zeros_like(w)
        return out


def _orthonormalize(v: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    for b in basis:
        v = v - (v @ b) * b
    return v / (v.norm() + 1e-6)


def top_eigen(op: HessianOperator, k: int = 1, max_iter: int = 100, tol: float = 1e-3,
              seed: int = 0) -> tuple[list[float], list[torch.Tensor]]:
    """Top-k eigenvalues (largest magnitude) and flat eigenvectors by power iteration with deflation.

    PyHessian's rule: stop when |lambda_t - lambda_{t-1}| / (|lambda_{t-1}| + 1e-6) < tol, or after max_iter.
    """
    if not 1 <= k <= op.dim:
        raise ValueError(f"k must be between 1 and the number of parameters ({op.dim}); got {k}")
    gen = torch.Generator().manual_seed(seed)
    values, vectors = [], []
    for _ in range(k):
        v = _orthonormalize(op.random(gen), vectors)
        lam = None
        for _ in range(max_iter):
            v = _orthonormalize(v, vectors)
            hv = op.matvec(v)
            new = (hv @ v).item()
            v = hv / (hv.norm() + 1e-6)
            if lam is not None and abs(new - lam) / (abs(lam) + 1e-6) < tol:
                lam = new
                break
            lam = new
        values.append(lam)
        vectors.append(_orthonormalize(v, vectors))  # the last step may lean back towards found vectors
    return values, vectors


def trace(op: HessianOperator, max_iter: int = 100, tol: float = 1e-3, seed: int = 0) -> tuple[float, list[float]]:
    """Hutchinson's estimate mean(v^T H v) over Rademacher v; returns (estimate, the samples: their spread)."""
    gen = torch.Generator().manual_seed(seed)
    samples, est = [], 0.0
    for _ in range(max_iter):
        v = op.random(gen, rademacher=True)
        samples.append((op.matvec(v) @ v).item())
        new = sum(samples) / len(samples)
        if len(samples) > 1 and abs(new - est) / (abs(est) + 1e-6) < tol:
            return new, samples
        est = new
    return est, samples


def eigenvalue_density(op: HessianOperator, iters: int = 90, runs: int = 1,
                       seed: int = 0) -> tuple[list[list[float]], list[list[float]]]:
    """Stochastic Lanczos quadrature with full reorthogonalisation: per run, Ritz nodes and weights Q_1j^2."""
    gen = torch.Generator().manual_seed(seed)
    m = min(iters, op.dim)
    nodes, weights = [], []
    for _ in range(runs):
        v = op.random(gen, rademacher=True)
        basis, alphas, betas = [v / v.norm()], [], []
        for i in range(m):
            w = op.matvec(basis[-1])
            alphas.append((w @ basis[-1]).item())
            for b in basis:  # full reorthogonalisation (twice is enough)
                w = w - (w @ b) * b
            for b in basis:
                w = w - (w @ b) * b
            beta = w.norm().item()
            if i == m - 1 or beta < 1e-8:  # an invariant subspace: T is exact
                break
            betas.append(beta)
            basis.append(w / beta)
        t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas, dtype=torch.float64)
            t += torch.diag(off, 1) + torch.diag(off, -1)
        lam, q = torch.linalg.eigh(t)  # T is symmetric: eigh (PyHessian's eig can return complex noise)
        nodes.append(lam.tolist())
        weights.append((q[0] ** 2).tolist())
    return nodes, weights


def density(nodes, weights, grid, sigma2: float | None = None):
    """The smoothed spectral density on grid: a Gaussian per node, variance 1e-5 max(1, range); integrates to 1."""
    import numpy as np

    grid = np.asarray(grid, dtype=float)
    flat = np.concatenate([np.asarray(n, float) for n in nodes])
    if sigma2 is None:
        sigma2 = 1e-5 * max(1.0, flat.max() - flat.min())
    out = np.zeros_like(grid)
    for ns, ws in zip(nodes, weights, strict=True):
        for lam, w in zip(ns, ws, strict=True):
            out += w * np.exp(-(grid - lam) ** 2 / (2 * sigma2)) / math.sqrt(2 * math.pi * sigma2)
    out /= len(nodes)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz
    area = trapezoid(out, grid) if len(grid) > 1 else 0.0
    return out / area if area > 0 else out
