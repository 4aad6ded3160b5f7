"""Hessian of the loss by Hessian-vector products: top-k eigenpairs (Lanczos, or dense for small models),
Hutchinson trace with a standard-error stopping rule, SLQ density (PyHessian's definitions)."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..capture import eval_mode
from ..device import model_device
from . import functional as fn

# parameters up to which the dense Hessian (dim products, every eigenvalue exact) costs no more than Lanczos, which
# took 20-24 products for the top 3 of tanh MLPs with 83-643 parameters (benchmarks/README.md)
DENSE_MAX = 32
HVP_MODES = ("double", "jvp")


class HessianOperator:
    """v -> H v for a scalar loss of a dict of parameters: double backward on one retained graph ('double'), or
    forward-over-reverse torch.func.jvp(grad) ('jvp', no retained graph, less memory). `hvps` counts the products.

    'double' is the default: on the benchmark CNN a product took 0.46 s against 0.56 s by jvp (one CPU thread), and
    the first jvp in a process spends 14 s importing under load.
    """

    def __init__(self, loss_fn, params: dict[str, torch.Tensor], full: dict[str, torch.Tensor] | None = None,
                 mode: str = "double"):
        self.loss_fn, self.params, self.full, self.mode = loss_fn, params, full or params, mode
        self._grad = None
        self.hvps = 0

    @classmethod
    def of(cls, model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers=None, mode: str = "double"
           ) -> HessianOperator:
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
        if mode not in HVP_MODES:
            raise ValueError(f"unknown Hessian-vector product mode {mode!r}; choose one of {', '.join(HVP_MODES)}")
        return cls(loss_fn, params, base, mode)

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
        self.hvps += 1
        if self.mode == "jvp":
            primals = {n: p.detach() for n, p in self.params.items()}
            with torch.enable_grad():
                _, hv = torch.func.jvp(torch.func.grad(self.loss_fn), (primals,), (self.split(v),))
            return torch.cat([hv[n].reshape(-1) for n in self.params]).detach()
        g = self._flat_grad()
        with torch.enable_grad():
            hv = torch.autograd.grad(g @ v, list(self.params.values()), retain_graph=True)
        return torch.cat([t.reshape(-1) for t in hv]).detach()

    def split(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """A flat vector as a dict shaped like the Hessian's parameters."""
        parts = torch.split(v, [p.numel() for p in self.params.values()])
        return {n: t.reshape(p.shape) for (n, p), t in zip(self.params.items(), parts, strict=True)}

    def dense(self) -> torch.Tensor:
        """The (dim, dim) Hessian, one product per column (dim HVPs on the retained graph).

        Not torch.func.hessian/vmap: their first call in a process imports for 1.6-14 s on this machine, longer
        than the whole loop for the models this is used on (DENSE_MAX).
        """
        ref = next(iter(self.params.values()))
        eye = torch.eye(self.dim, dtype=ref.dtype, device=ref.device)
        h = torch.stack([self.matvec(e) for e in eye])
        return (h + h.T) / 2  # symmetric up to rounding; eigh reads one triangle

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


def eigen_path(op: HessianOperator, method: str = "auto") -> str:
    """Which top_eigen method runs: 'dense' up to DENSE_MAX parameters on 'auto', else 'lanczos'."""
    if method not in ("auto", "lanczos", "dense", "power"):
        raise ValueError(f"unknown eigenvalue method {method!r}; choose one of auto, lanczos, dense, power")
    return ("dense" if op.dim <= DENSE_MAX else "lanczos") if method == "auto" else method


def top_eigen(op: HessianOperator, k: int = 1, max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
              method: str = "auto") -> tuple[list[float], list[torch.Tensor]]:
    """Top-k eigenvalues (largest magnitude) and flat unit eigenvectors.

    method: 'lanczos' (full reorthogonalisation; stops when every one of the k Ritz pairs has a residual
    ||H v - theta v|| <= tol |theta|, which bounds each eigenvalue's relative error by tol; max_iter caps the Krylov
    dimension), 'dense' (the full Hessian and eigh), 'power' (PyHessian's power iteration with deflation: stop when
    the relative change is < tol) or 'auto' (eigen_path). op.hvps counts the Hessian-vector products used.
    """
    if not 1 <= k <= op.dim:
        raise ValueError(f"k must be between 1 and the number of parameters ({op.dim}); got {k}")
    path = eigen_path(op, method)
    if path == "dense":
        lam, vec = torch.linalg.eigh(op.dense().double())
        order = lam.abs().argsort(descending=True)[:k]
        ref = next(iter(op.params.values()))
        return lam[order].tolist(), [vec[:, i].to(ref.dtype) for i in order]
    if path == "lanczos":
        return lanczos(op, k, max_iter, tol, seed)
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


class _Basis:
    """The Krylov basis, row by row, in blocks allocated as the run needs them: max_iter rows up front would be
    4.5 GB for a ResNet-18's 11 M parameters, for a run that converges in a few tens of steps."""

    def __init__(self, like: torch.Tensor, block: int = 16):
        self.like, self.block, self.blocks, self.n = like, block, [], 0

    def append(self, v: torch.Tensor) -> None:
        if self.n == len(self.blocks) * self.block:
            self.blocks.append(torch.zeros(self.block, len(v), dtype=self.like.dtype, device=self.like.device))
        self.blocks[-1][self.n % self.block] = v
        self.n += 1

    def __getitem__(self, j: int) -> torch.Tensor:
        return self.blocks[j // self.block][j % self.block]

    def _rows(self, n: int):
        for i, b in enumerate(self.blocks):
            if i * self.block < n:
                yield i * self.block, b[:min(self.block, n - i * self.block)]

    def coefficients(self, w: torch.Tensor, n: int) -> torch.Tensor:
        """(n,) dot products of w with the first n rows."""
        return torch.cat([r @ w for _, r in self._rows(n)])

    def combine(self, c: torch.Tensor) -> torch.Tensor:
        """sum_i c[i] row_i over the first len(c) rows (c of shape (n,) or (n, k): a (dim,) or (dim, k) result)."""
        return sum(r.T @ c[a:a + len(r)] for a, r in self._rows(len(c)))


class Krylov(NamedTuple):
    """A Lanczos run after step j: T's diagonal is alphas[:j + 1] and its off-diagonal betas[:j]; betas[j] is the
    norm of the new residual; basis holds the Lanczos vectors."""

    j: int
    alphas: torch.Tensor
    betas: torch.Tensor
    basis: _Basis

    def ritz(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Eigenpairs of the tridiagonal T after this step (float64 on the host)."""
        return _ritz(self.alphas[:self.j + 1], self.betas[:self.j])


def lanczos_iteration(op: HessianOperator, v: torch.Tensor, steps: int):
    """The Lanczos iteration from v with full reorthogonalisation, on v's device: yields a Krylov state after each
    step (one product); the caller decides when to stop (lanczos: converged Ritz pairs; SLQ: a number of steps)."""
    q = _Basis(v)
    q.append(v / v.norm())
    alphas = torch.zeros(steps, dtype=v.dtype, device=v.device)
    betas = torch.zeros(steps, dtype=v.dtype, device=v.device)
    for j in range(steps):
        w = op.matvec(q[j])
        alphas[j] = w @ q[j]
        for _ in range(2):  # classical Gram-Schmidt twice against the whole basis: "twice is enough"
            w = w - q.combine(q.coefficients(w, j + 1))
        betas[j] = w.norm()
        q.append(w / betas[j].clamp_min(torch.finfo(v.dtype).tiny))
        yield Krylov(j, alphas, betas, q)


def lanczos(op: HessianOperator, k: int = 1, max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
            check: int | None = None) -> tuple[list[float], list[torch.Tensor]]:
    """Top-k by magnitude from a Lanczos run with full reorthogonalisation (on the device; the host reads the
    tridiagonal T only every `check` steps to test convergence: None = every step on the CPU, every 4th on GPUs)."""
    m = min(max_iter, op.dim)
    v = op.random(torch.Generator().manual_seed(seed))
    check = check or (1 if v.device.type == "cpu" else 4)
    for run in lanczos_iteration(op, v, m):
        j, beta = run.j, run.betas[run.j]
        if (j + 1) % check and j + 1 < m:
            continue
        theta, s = run.ritz()
        top = theta.abs().argsort(descending=True)[:k]
        resid = (beta.double().cpu() * s[-1, top]).abs()
        scale = theta.abs().max().clamp_min(1e-30)
        breakdown = beta.item() <= 1e-10 * scale.item()  # an invariant subspace: T's eigenvalues are exact
        if len(top) == k and (breakdown or bool((resid <= tol * theta[top].abs()).all())) or j + 1 == m:
            break
    vecs = run.basis.combine(s[:, top].to(v.dtype).to(v.device)).T  # (k, dim): Ritz vectors from the first j + 1
    return theta[top].tolist(), [vv / vv.norm() for vv in vecs]


def _ritz(alphas: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of the symmetric tridiagonal T (float64 on the host)."""
    t = torch.diag(alphas.double().cpu())
    if len(betas):
        off = betas.double().cpu()
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigh(t)


class Trace(NamedTuple):
    """Hutchinson's estimate and its samples; unpacks as (estimate, samples)."""

    estimate: float
    samples: list[float]

    @property
    def se(self) -> float:
        """Standard error of the mean of the samples (NaN for fewer than 2)."""
        n = len(self.samples)
        if n < 2:
            return float("nan")
        mean = self.estimate
        return math.sqrt(sum((s - mean) ** 2 for s in self.samples) / (n - 1) / n)


def trace(op: HessianOperator, max_iter: int = 200, tol: float = 0.02, seed: int = 0,
          min_samples: int = 10) -> Trace:
    """Hutchinson's estimate mean(v^T H v) over Rademacher v, with its standard error (Trace.se).

    Stops once 2 SE <= tol |mean| after at least min_samples (or at max_iter): a rule on the estimate's own
    uncertainty. PyHessian's rule (stop when the running mean changes by < tol) ends early on a noisy mean, and its
    relative change uses the signed previous mean, so a negative trace stops at once. tol=0: all max_iter samples.
    """
    gen = torch.Generator().manual_seed(seed)
    vals = []
    for i in range(max_iter):
        v = op.random(gen, rademacher=True)
        vals.append(op.matvec(v) @ v)  # 0-d tensors: the host reads them only at the checks below
        n = i + 1
        if tol > 0 and n >= min_samples and (n == min_samples or n % 5 == 0):
            t = torch.stack(vals).double()
            if 2 * t.std().item() / math.sqrt(n) <= tol * abs(t.mean().item()):
                break
    samples = torch.stack(vals).double().cpu().tolist() if vals else []
    return Trace(sum(samples) / max(len(samples), 1), samples)


def eigenvalue_density(op: HessianOperator, iters: int = 90, runs: int = 1,
                       seed: int = 0) -> tuple[list[list[float]], list[list[float]]]:
    """Stochastic Lanczos quadrature with full reorthogonalisation: per run, Ritz nodes and weights Q_1j^2."""
    gen = torch.Generator().manual_seed(seed)
    m = min(iters, op.dim)
    nodes, weights = [], []
    for _ in range(runs):
        for run in lanczos_iteration(op, op.random(gen, rademacher=True), m):
            if run.j == m - 1 or run.betas[run.j] < 1e-8:  # an invariant subspace: T is exact
                break
        lam, q = run.ritz()  # T is symmetric: eigh (PyHessian's eig can return complex noise)
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
