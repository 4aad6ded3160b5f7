"""Exact linear regions of an MLP on a plane: each ReLU's zero set is a line there; cut polygons unit by unit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import eval_mode
from .plane import Plane

AFFINE = (nn.Linear, nn.BatchNorm1d)
PASS = (nn.Flatten, nn.Identity, nn.Dropout)
BENDS = (nn.ReLU, nn.LeakyReLU)


def _chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The leaves in order; ValueError unless all are Flatten/Linear/BatchNorm1d/ReLU/LeakyReLU/Identity/Dropout."""
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    for n, m in leaves:
        if not isinstance(m, AFFINE + PASS + BENDS):
            raise ValueError(f"exact regions need an MLP (Linear, BatchNorm1d, ReLU, LeakyReLU, Flatten); {n!r} is "
                             f"a {type(m).__name__}: use grid_regions for this model")
    return leaves


def _affine(m: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of an eval-mode Linear or BatchNorm1d, float64."""
    if isinstance(m, nn.Linear):
        w = m.weight.detach().double().cpu().numpy()
        b = m.bias.detach().double().cpu().numpy() if m.bias is not None else np.zeros(len(w))
        return w, b
    scale = (m.weight.detach().double() if m.affine else 1) / torch.sqrt(m.running_var.double() + m.eps)
    shift = (m.bias.detach().double() if m.affine else 0) - m.running_mean.double() * scale
    return np.diag(scale.cpu().numpy()), shift.cpu().numpy()


def _split(verts: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut a convex polygon (m, 2) by the sign of g (values at its vertices): (part g >= 0, part g <= 0)."""
    pos, neg = [], []
    m = len(verts)
    for i in range(m):
        j = (i + 1) % m
        if g[i] >= 0:
            pos.append(verts[i])
        if g[i] <= 0:
            neg.append(verts[i])
        if (g[i] > 0 > g[j]) or (g[i] < 0 < g[j]):
            p = verts[i] + (verts[j] - verts[i]) * (g[i] / (g[i] - g[j]))
            pos.append(p)
            neg.append(p)
    return np.array(pos), np.array(neg)


def _area(v: np.ndarray) -> float:
    return 0.5 * abs(float(np.dot(v[:, 0], np.roll(v[:, 1], -1)) - np.dot(v[:, 1], np.roll(v[:, 0], -1))))


@dataclass(eq=False)
class ExactRegions:
    """Convex polygons in plane coordinates, one per activation pattern, with the logits' affine map on each."""

    polygons: list  # n_regions arrays (m_i, 2), counter-clockwise or clockwise, convex
    bits: np.ndarray  # (n_regions, n_bits) uint8 code (pre-activation > 0), units in the model's order
    weight: np.ndarray  # (n_regions, K, 2): logits = weight @ (u, v) + bias on the region
    bias: np.ndarray  # (n_regions, K)
    bounds: tuple

    @property
    def count(self) -> int:
        """The number of pattern regions meeting the bounds."""
        return len(self.polygons)

    def locate(self, u: float, v: float) -> int:
        """The region id holding (u, v) (-1 if outside the bounds)."""
        p = np.array([u, v])
        for i, poly in enumerate(self.polygons):
            d = np.roll(poly, -1, 0) - poly
            cross = d[:, 0] * (p[1] - poly[:, 1]) - d[:, 1] * (p[0] - poly[:, 0])
            if (cross >= -1e-12).all() or (cross <= 1e-12).all():
                return i
        return -1

    def edges(self) -> list[np.ndarray]:
        """Each region's boundary segments as (m, 2, 2) arrays (the domain's edges included)."""
        return [np.stack([p, np.roll(p, -1, 0)], 1) for p in self.polygons]

    def class_pieces(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Each region cut into the convex parts where one class has the top logit (K = 1: logit > 0 is class 1):
        the exact decision map as (polygons, (n,) class of each)."""
        polys, classes = [], []
        for poly, a, c in zip(self.polygons, self.weight, self.bias, strict=True):
            k = len(c)
            for cls in range(k) if k > 1 else (1, 0):
                part = poly
                for m in range(k) if k > 1 else (0,):
                    if k > 1 and m == cls:
                        continue
                    g = part @ (a[0] if k == 1 else a[cls] - a[m]) + (c[0] if k == 1 else c[cls] - c[m])
                    part = _split(part, g if cls or k > 1 else -g)[0]
                    if len(part) < 3:
                        break
                if len(part) >= 3 and _area(part) > 1e-12:
                    polys.append(part)
                    classes.append(cls)
        return polys, np.array(classes, int)

    def decision_segments(self) -> list[tuple[int, int, np.ndarray]]:
        """(i, j, (2, 2) segment) where classes i and j tie at the top: the decision boundary, exactly."""
        out = []
        for poly, a, c in zip(self.polygons, self.weight, self.bias, strict=True):
            k = len(c)
            top = (poly @ a.T + c).argmax(1)
            if k > 1 and (top == top[0]).all():
                continue  # class top[0]'s winning set is convex and holds every vertex: no boundary in here
            pairs = [(0, -1)] if k == 1 else [(i, j) for i in range(k) for j in range(i + 1, k)]
            for i, j in pairs:
                da, dc = (a[0], c[0]) if j < 0 else (a[i] - a[j], c[i] - c[j])
                g = poly @ da + dc
                hits = [poly[s] + (poly[(s + 1) % len(poly)] - poly[s]) * (g[s] / (g[s] - g[(s + 1) % len(poly)]))
                        for s in range(len(poly)) if (g[s] > 0) != (g[(s + 1) % len(poly)] > 0)]
                if len(hits) < 2:
                    continue
                p0, p1 = hits[0], hits[-1]
                lo, hi = 0.0, 1.0
                for m in ([] if j < 0 else range(k)):  # keep the part where l_i = l_j >= every other l_m
                    if m in (i, j):
                        continue
                    s0 = (a[i] - a[m]) @ p0 + c[i] - c[m]
                    s1 = (a[i] - a[m]) @ p1 + c[i] - c[m]
                    if s0 < 0 and s1 < 0:
                        lo, hi = 1.0, 0.0
                        break
                    if s0 < 0 or s1 < 0:
                        t = s0 / (s0 - s1)
                        lo, hi = (max(lo, t), hi) if s0 < 0 else (lo, min(hi, t))
                if hi - lo > 1e-12:
                    out.append((i, j, np.stack([p0 + lo * (p1 - p0), p0 + hi * (p1 - p0)])))
        return out


@torch.no_grad()
def exact_regions(model: nn.Module, plane: Plane, bounds=None, min_area: float = 1e-12) -> ExactRegions:
    """Every activation pattern of an MLP met on the plane's bounds, as exact convex polygons (float64).

    Cuts the bounds by each unit's zero line in turn (incremental intersection), so the cost grows with the
    number of regions; the result is checked against the model at each polygon's centroid.
    """
    chain = _chain(model)
    u0, u1, v0, v1 = plane.check_bounds(bounds)
    rect = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], float)
    basis = plane.basis.flatten(1).double().cpu().numpy()  # (2, d)
    # each polygon: (vertices, A (n, 2), c (n,), code bits so far); the current layer's values are A @ uv + c
    # polygons share arrays: A (P, n, 2) and c (P, n) give the current layer's values A @ (u, v) + c on each
    verts = [rect]
    A, c = basis.T[None].copy(), plane.origin.flatten().double().cpu().numpy()[None]
    bits = np.zeros((1, 0), np.uint8)
    for _, m in chain:
        if isinstance(m, AFFINE):
            w, b = _affine(m)
            A, c = np.einsum("oi,pit->pot", w, A), c @ w.T + b
        elif isinstance(m, BENDS):
            slope = m.negative_slope if isinstance(m, nn.LeakyReLU) else 0.0
            layer = np.zeros((len(verts), c.shape[1]), np.uint8)
            for j in range(c.shape[1]):
                verts, A, c, bits, layer = _cut(verts, A, c, bits, layer, j, min_area)
            gain = np.where(layer > 0, 1.0, slope)
            A, c, bits = A * gain[:, :, None], c * gain, np.concatenate([bits, layer], 1)
    regions = ExactRegions(verts, bits, A, c, (u0, u1, v0, v1))
    _verify(model, plane, regions)
    return regions


def _cut(verts, A, c, bits, layer, j, min_area):
    """Split every polygon that unit j's zero line crosses; set unit j's bit (pre-activation > 0) of each."""
    lens = np.array([len(v) for v in verts])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    owner = np.repeat(np.arange(len(verts)), lens)
    g = (np.concatenate(verts) * A[owner, j]).sum(1) + c[owner, j]  # unit j at every vertex, all polygons at once
    hi, lo = np.maximum.reduceat(g, starts), np.minimum.reduceat(g, starts)
    layer[:, j] = np.add.reduceat(g, starts) > 0  # polygons the line misses: the sign of their vertices' mean
    new = []
    for i in np.flatnonzero((hi > 0) & (lo < 0)):
        pos, neg = _split(verts[i], g[starts[i]:starts[i] + lens[i]])
        keep_pos, keep_neg = (len(q) >= 3 and _area(q) > min_area for q in (pos, neg))
        if keep_pos and keep_neg:
            verts[i], layer[i, j] = pos, 1
            verts.append(neg)
            new.append(i)  # the negative half: a copy of polygon i's rows, unit j off
        else:
            verts[i], layer[i, j] = (pos, 1) if keep_pos else (neg, 0)
    if new:
        new = np.array(new)
        extra = layer[new].copy()
        extra[:, j] = 0
        A, c, bits, layer = (np.concatenate([A, A[new]]), np.concatenate([c, c[new]]),
                             np.concatenate([bits, bits[new]]), np.concatenate([layer, extra]))
    return verts, A, c, bits, layer


def _verify(model: nn.Module, plane: Plane, regions: ExactRegions) -> None:
    """Compare each region's map with the model itself at its centroid (SplineCam's verify() never does)."""
    cent = np.stack([p.mean(0) for p in regions.polygons])
    x = plane.points(cent[:, 0], cent[:, 1]).double()
    with eval_mode(model):
        p = next(model.parameters())
        out = model(x.to(p.device, p.dtype)).double().cpu().numpy()
    mine = np.einsum("rkt,rt->rk", regions.weight, cent) + regions.bias
    tol = 1e-4 * max(1.0, float(np.abs(out).max()))
    if not np.allclose(out, mine, atol=tol, rtol=0):
        raise ValueError("the exact regions do not reproduce the model: it is not a plain chain of its modules "
                         "in registration order (a functional op or a reordered forward?); use grid_regions")
