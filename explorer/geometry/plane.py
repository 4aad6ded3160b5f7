"""A plane in input space: through three inputs, or an input and two directions (orthonormal basis)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(eq=False)
class Plane:
    """Points origin + u * basis[0] + v * basis[1]; anchors are the given inputs' (u, v)."""

    origin: torch.Tensor  # (*shape)
    basis: torch.Tensor  # (2, *shape), orthonormal
    anchors: np.ndarray  # (n, 2)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one input."""
        return tuple(self.origin.shape)

    def points(self, u, v) -> torch.Tensor:
        """Inputs at plane coordinates u, v (arrays of one shape, flattened): (M, *shape)."""
        uv = torch.as_tensor(np.stack([np.ravel(u), np.ravel(v)], 1), dtype=self.origin.dtype,
                             device=self.origin.device)
        return self.origin[None] + (uv @ self.basis.flatten(1)).view(-1, *self.shape)

    def project(self, x: torch.Tensor) -> np.ndarray:
        """(u, v) of inputs x (N, *shape) projected onto the plane."""
        d = (x.to(self.origin) - self.origin[None]).flatten(1)
        return (d @ self.basis.flatten(1).T).cpu().numpy()

    def bounds(self, margin: float = 0.5, zoom: float = 1.0) -> tuple[float, float, float, float]:
        """(u0, u1, v0, v1): the anchors' bounding box grown by margin times its larger side, then each side scaled
        by `zoom` about the box's centre (zoom 0.1: a tenth of the width and height, around the middle)."""
        if not (np.isfinite(zoom) and zoom > 0):
            raise ValueError(f"zoom must be a positive number (1: the anchors' box); got {zoom!r}")
        lo, hi = self.anchors.min(0), self.anchors.max(0)
        pad = margin * float(max(hi - lo))
        (u0, v0), (u1, v1) = lo - pad, hi + pad
        cu, cv, hu, hv = (u0 + u1) / 2, (v0 + v1) / 2, zoom * (u1 - u0) / 2, zoom * (v1 - v0) / 2
        return float(cu - hu), float(cu + hu), float(cv - hv), float(cv + hv)

    def check_bounds(self, bounds=None) -> tuple[float, float, float, float]:
        """(u0, u1, v0, v1) as floats (the anchors' box when None), or a ValueError: NaN bounds would make a grid of
        NaN points (one "region"), and u0 >= u1 an empty one."""
        if bounds is None:
            return self.bounds()
        try:
            u0, u1, v0, v1 = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"bounds must be four numbers (u0, u1, v0, v1); got {bounds!r}") from None
        if not np.isfinite([u0, u1, v0, v1]).all() or not (u0 < u1 and v0 < v1):
            raise ValueError(f"bounds must be finite with u0 < u1 and v0 < v1; got {bounds!r} (None: the anchors' "
                             f"box with a margin)")
        return u0, u1, v0, v1

    def grid(self, resolution: int = 200, bounds=None) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres (u, v), each (resolution, resolution); rows run along v, columns along u."""
        u0, u1, v0, v1 = self.check_bounds(bounds)
        res = (resolution, resolution) if np.isscalar(resolution) else tuple(resolution)
        if len(res) != 2 or any(isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1 for r in res):
            raise ValueError(f"resolution must be an integer >= 1 (cells along each side of the grid); "
                             f"got {resolution!r}")
        du, dv = (u1 - u0) / res[1], (v1 - v0) / res[0]
        return np.meshgrid(u0 + du * (np.arange(res[1]) + 0.5), v0 + dv * (np.arange(res[0]) + 0.5))


def _finite(*xs):
    for x in xs:
        if not torch.isfinite(x).all():
            raise ValueError("a plane's input or direction contains NaN or inf")


def plane_through(x0: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor, tol: float = 1e-6) -> Plane:
    """The plane through three inputs: u along x1 - x0, v the Gram-Schmidt remainder of x2 - x0."""
    if not (x0.shape == x1.shape == x2.shape):
        raise ValueError(f"the three inputs differ in shape: {tuple(x0.shape)}, {tuple(x1.shape)}, {tuple(x2.shape)}")
    _finite(x0, x1, x2)
    d1, d2 = (x1 - x0).double().flatten(), (x2 - x0).double().flatten()
    if d1.norm() <= tol * max(float(x0.double().norm()), 1.0):
        raise ValueError("x0 and x1 are the same input: three distinct, non-collinear inputs span a plane")
    e1 = d1 / d1.norm()
    r = d2 - (d2 @ e1) * e1
    if r.norm() <= tol * max(float(d2.norm()), float(d1.norm())):
        raise ValueError("the three inputs are collinear (x2 - x0 is parallel to x1 - x0): they span no plane")
    e2 = r / r.norm()
    basis = torch.stack([e1, e2]).to(x0.dtype).view(2, *x0.shape)
    anchors = np.array([[0.0, 0.0], [float(d1.norm()), 0.0], [float(d2 @ e1), float(r.norm())]])
    return Plane(x0.detach().clone(), basis, anchors)


def plane_from(x0: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, tol: float = 1e-6) -> Plane:
    """The plane through x0 spanned by two directions (orthonormalised; d1 keeps its direction)."""
    if d1.shape != x0.shape or d2.shape != x0.shape:
        raise ValueError(f"directions must have the input's shape {tuple(x0.shape)}")
    try:
        plane = plane_through(x0, x0 + d1, x0 + d2, tol)
    except ValueError as err:
        raise ValueError(f"d1 and d2 span no plane (one is zero or they are parallel): {err}") from None
    plane.anchors = plane.anchors[:1]
    return plane
