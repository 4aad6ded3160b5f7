"""Local complexity (Humayun, Balestriero, Baraniuk 2024): units whose sign changes around an input."""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from ..data import as_model_input
from ..layers import relu_layers
from .extract import relu_batches


def cross_polytope(dim: int, n_vertices: int, seed: int = 0) -> torch.Tensor:
    """n_vertices / 2 seeded orthonormal directions (QR of a Gaussian), as (n_vertices / 2, dim)."""
    if n_vertices < 2 or n_vertices % 2:
        raise ValueError(f"n_vertices must be an even number >= 2; got {n_vertices}")
    if n_vertices // 2 > dim:
        raise ValueError(f"{n_vertices // 2} orthonormal directions do not fit in {dim} input dimensions")
    g = torch.randn(dim, n_vertices // 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    return (q * torch.sign(torch.diagonal(r))).T.float()  # sign fix: a unique QR, so the same seed, same directions


def local_complexity(model: nn.Module, x: torch.Tensor, layers=None, radius: float = 0.1, n_vertices: int = 20,
                     seed: int = 0, batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Per input, the number of units of each layer call whose pre-activation sign is not the same at all
    vertices x +- radius * v_j of a cross-polytope (seeded orthonormal v_j, shared by all inputs); 'total' sums them.

    Exact for the first layer (an affine function on a polytope is extreme at its vertices), the paper's
    approximation deeper. Signs follow torch.sign, so an exact zero is a third state, as in the paper.
    """
    layers = relu_layers(model, layers)
    if not (isinstance(radius, numbers.Real) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a finite number > 0; got {radius!r}")
    x = as_model_input(x, model, "inputs")
    if len(x) == 0:
        raise ValueError("no inputs")
    shape = x.shape[1:]
    v = cross_polytope(math.prod(shape), n_vertices, seed).to(x.dtype)
    offsets = torch.cat([v, -v]).view(n_vertices, *shape) * radius  # (n, *shape)
    per_batch = max(1, batch_size // n_vertices)
    counts: dict[str, list] = {}
    for i in range(0, len(x), per_batch):
        xb = x[i:i + per_batch]
        pts = (xb[:, None] + offsets[None]).flatten(0, 1)  # (B * n, *shape), the vertices of each input in turn
        for names, pre, _ in relu_batches(model, pts, layers, len(pts)):
            for name, p in zip(names, pre, strict=True):
                s = torch.sign(p).view(len(xb), n_vertices, -1)
                changed = (s != s[:, :1]).any(dim=1).sum(dim=1)  # units whose sign differs from the first vertex's
                counts.setdefault(name, []).append(changed.cpu().numpy())
    out = {name: np.concatenate(c) for name, c in counts.items()}
    out["total"] = np.sum(list(out.values()), axis=0)
    return out
