"""Linear regions on a plane by a dense grid: cells share a region when their activation codes agree."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import capture, eval_mode
from ..codes.extract import activation_codes
from ..device import model_device
from ..layers import relu_layers
from .linear import local_map
from .plane import Plane


@dataclass(eq=False)
class GridSamples:
    """What the model gives on a plane's grid: codes and logits per cell (the part that runs the model)."""

    u: np.ndarray  # (R, C) cell centres
    v: np.ndarray  # (R, C)
    packed: np.ndarray  # (R * C, n_bytes) uint8, np.packbits of each cell's code
    n_bits: int
    logits: np.ndarray  # (R * C, K) float32
    anchors: np.ndarray  # (n, 2)
    layers: tuple[str, ...]


@dataclass(eq=False)
class GridRegions:
    """A plane's partition into pattern regions (cells with one code), with the predicted class per cell."""

    u: np.ndarray  # (R, C)
    v: np.ndarray  # (R, C)
    ids: np.ndarray  # (R, C) int: region id, one per distinct code
    codes: np.ndarray  # (n_regions, n_bytes) uint8 packed code of each id
    n_bits: int
    predicted: np.ndarray  # (R, C) int
    boundary: np.ndarray  # (R, C) bool: the code changes to the right or below
    decision: np.ndarray  # (R, C) bool: the predicted class changes to the right or below
    anchors: np.ndarray  # (n, 2)

    @property
    def count(self) -> int:
        """Distinct codes seen on the grid: a lower bound on the pattern regions in the bounds."""
        return len(self.codes)

    def sizes(self) -> np.ndarray:
        """(n_regions,) int: the cells of each region id."""
        return np.bincount(self.ids.ravel(), minlength=self.count)

    @property
    def resolved(self) -> bool:
        """Whether the grid resolves the regions: at most half of them are a single cell (else most regions are
        smaller than a cell, and the count and the picture are the grid's, not the network's)."""
        return bool(np.mean(self.sizes() == 1) <= 0.5)

    def density(self, radius: float) -> np.ndarray:
        """Per anchor, the distinct regions among cells within `radius` of it (plane units)."""
        out = []
        for a in self.anchors:
            near = (self.u - a[0]) ** 2 + (self.v - a[1]) ** 2 <= radius ** 2
            out.append(len(np.unique(self.ids[near])))
        return np.array(out)

    def bits(self, region: int) -> np.ndarray:
        """The 0/1 code of one region id."""
        return np.unpackbits(self.codes[region], count=self.n_bits)


BATCH_BYTES = 2 ** 28  # activations per batch of grid cells


def _counted(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """model(x) and the bytes of every leaf module's output per input (counting hooks, removed after)."""
    total = [0]

    def count(module, inputs, output):
        if isinstance(output, torch.Tensor):
            total[0] += output.numel() * output.element_size()
    handles = [m.register_forward_hook(count) for m in model.modules() if not any(True for _ in m.children())]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, total[0] // max(len(x), 1)


def _dtype(model: nn.Module) -> torch.dtype:
    """The model's floating dtype (a float64 plane still feeds a float32 model)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _changes(a: np.ndarray) -> np.ndarray:
    """(R, C) bool: a cell differs from its right or lower neighbour."""
    out = np.zeros(a.shape, bool)
    out[:, :-1] |= a[:, 1:] != a[:, :-1]
    out[:-1] |= a[1:] != a[:-1]
    return out


def grid_samples(model: nn.Module, plane: Plane, resolution: int = 200, bounds=None, layers=None,
                 batch_size: int = 2048, progress=None) -> GridSamples:
    """Codes of `layers` (default every ReLU-like layer; bit on iff pre-activation > 0, as explorer.codes) and
    logits at each cell centre of the plane's grid, from one forward pass per batch."""
    layers = tuple(relu_layers(model, layers))
    u, v = plane.grid(resolution, bounds)
    device, dtype = model_device(model), _dtype(model)
    packed, logits, n_bits = [], [], 0
    total, i, step, cell = u.size, 0, 1, 0  # the first cell alone: the memory it takes sets the batch
    with torch.no_grad(), eval_mode(model), capture(model, layers) as rec:
        while i < total:
            rec.clear()
            x = plane.points(u.ravel()[i:i + step], v.ravel()[i:i + step]).to(device, dtype)
            out, cell = _counted(model, x) if i == 0 else (model(x), cell)
            bits = torch.cat([p.flatten(1) > 0 for n in layers for p in rec.preacts[n]], dim=1)
            packed.append(np.packbits(bits.cpu().numpy(), axis=1))
            n_bits = bits.shape[1]
            logits.append(out.float().cpu().numpy())
            i += len(x)
            if progress:
                progress(i, total, {"cells": total})
            # a batch's activations and records (8 bytes a unit) within BATCH_BYTES: a ResNet's 2048 cells are GBs
            step = max(1, min(batch_size, BATCH_BYTES // max(cell + 8 * n_bits, 1)))
    return GridSamples(u, v, np.concatenate(packed), n_bits, np.concatenate(logits), plane.anchors, layers)


def partition(samples: GridSamples) -> GridRegions:
    """Region ids, boundaries, predicted classes and the decision boundary from grid samples (pure)."""
    shape = samples.u.shape
    rows = np.ascontiguousarray(samples.packed)
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()  # one opaque key per code: fast unique
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    ids = inverse.reshape(shape)
    pred = samples.logits.argmax(1).reshape(shape)
    return GridRegions(samples.u, samples.v, ids, rows[first], samples.n_bits, pred, _changes(ids), _changes(pred),
                       samples.anchors)


def grid_regions(model: nn.Module, plane: Plane, resolution: int = 200, bounds=None, layers=None,
                 progress=None) -> GridRegions:
    """The plane's pattern regions of `layers` (default the whole network) on a resolution x resolution grid."""
    return partition(grid_samples(model, plane, resolution, bounds, layers, progress=progress))


ZOOMS = (1.0, 1 / 3, 0.1, 1 / 30, 0.01)  # spans tried, widest first: shares of the anchors' box (Plane.bounds)
CELLS = 20  # cells a region on average at which a grid shows regions rather than confetti
SEARCH = 50  # the side of the grids that look for the span (a quarter of the cells of the default 100)


def shows_regions(r: GridRegions, cells: float = CELLS) -> bool:
    """Whether a grid shows its regions: resolved, and `cells` cells a region on average."""
    return r.resolved and r.ids.size >= cells * r.count


def widest_regions(model: nn.Module, plane: Plane, resolution: int = 100, layers=None, zooms=ZOOMS,
                   cells: float = CELLS, search: int = SEARCH, progress=None) -> GridRegions:
    """The grid regions at the widest of `zooms` (Plane.bounds(zoom=...)) whose grid shows_regions, trying the
    widest first on a search² grid (cells scaled to it), then the chosen span at resolution²; the narrowest span
    when none does (its summary then says the grid cannot resolve them)."""
    search = min(search, resolution)
    for zoom in zooms:
        r = grid_regions(model, plane, search, plane.bounds(zoom=zoom), layers, progress)
        if shows_regions(r, cells * (search / resolution) ** 2):
            break
    return r if search == resolution else grid_regions(model, plane, resolution, plane.bounds(zoom=zoom), layers,
                                                       progress)


@dataclass(eq=False)
class Region:
    """One region at a plane point: its code, its affine map (in input space and on the plane), its members."""

    bits: np.ndarray  # (n_bits,) 0/1
    weight: np.ndarray  # (K, *shape): W_x
    bias: np.ndarray  # (K,): b_x
    plane_weight: np.ndarray  # (K, 2): logits = plane_weight @ (u, v) + plane_bias inside the region
    plane_bias: np.ndarray  # (K,)
    members: np.ndarray  # indices of the given inputs (training set) whose code is this one
    exact: bool


def region_at(model: nn.Module, plane: Plane, u: float, v: float, layers=None, inputs: torch.Tensor | None = None,
              input_codes=None, linearise: bool = False) -> Region:
    """The region holding plane point (u, v): its code (explorer.codes), affine map, and which inputs share it.

    inputs: the inputs to search (e.g. session.data.inputs('train')); input_codes: their Codes, if known.
    """
    layers = tuple(relu_layers(model, layers))
    x = plane.points([u], [v]).to(model_device(model), _dtype(model))
    code = activation_codes(model, x, layers)
    m = local_map(model, x, linearise=linearise)
    k = m.bias.shape[1]
    w = m.weight.reshape(k, -1)
    basis = plane.basis.flatten(1).double().cpu().numpy()
    origin = plane.origin.flatten().double().cpu().numpy()
    members = np.zeros(0, int)
    if inputs is not None or input_codes is not None:
        codes = input_codes if input_codes is not None else activation_codes(model, inputs, layers)
        if codes.n_bits != code.n_bits:
            raise ValueError(f"input_codes have {codes.n_bits} bits, the region's code {code.n_bits}: other layers?")
        members = np.flatnonzero((codes.packed == code.packed[0]).all(1))
    return Region(code.bits()[0], m.weight[0], m.bias[0], w @ basis.T, w @ origin + m.bias[0], members, m.exact)
