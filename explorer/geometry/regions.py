"""Linear regions on a plane by a dense grid: cells share a region when their activation codes agree."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import eval_mode
from ..codes.extract import activation_codes
from ..device import model_device
from ..layers import relu_layers, resolve
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


class _Enough(Exception):
    """Raised by the last of the layers' hooks when only codes are asked for: the rest of the forward is skipped."""


@contextlib.contextmanager
def _sign_bits(model: nn.Module, layers: tuple[str, ...]):
    """Per layer, the (N, units) bool `input > 0` of each call (the code's bits, as explorer.codes), taken in a
    pre-hook before an in-place ReLU rewrites it: no float copy is kept. Setting `stop[0]` to n raises _Enough once
    n calls have been recorded (the forward's last layer has run)."""
    bits: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    stop, seen = [0], [0]

    def on_input(name):
        def hook(module, inputs):
            bits[name].append(inputs[0].flatten(1) > 0)
            seen[0] += 1
            if seen[0] == stop[0]:
                raise _Enough
        return hook
    handles = [m.register_forward_pre_hook(on_input(n)) for n, m in resolve(model, layers).items()]
    try:
        yield bits, stop, seen
    finally:
        for h in handles:
            h.remove()


def _batches(model: nn.Module, plane: Plane, u: np.ndarray, v: np.ndarray, layers: tuple[str, ...], batch_size: int,
             progress, logits: bool):
    """Yield (packed codes, logits, code bits) of the cells u, v batch by batch (see grid_samples)."""
    device, dtype = model_device(model), _dtype(model)
    total, i, step, cell, n_bits = u.size, 0, 1, 0, 0  # the first cell alone: the memory it takes sets the batch
    with torch.no_grad(), eval_mode(model), _sign_bits(model, layers) as (rec, stop, seen):
        while i < total:
            for calls in rec.values():
                calls.clear()
            seen[0] = 0
            x = plane.points(u.ravel()[i:i + step], v.ravel()[i:i + step]).to(device, dtype)
            try:
                out, cell = _counted(model, x) if i == 0 else (model(x), cell)
            except _Enough:
                out = None
            bits = torch.cat([p for n in layers for p in rec[n]], dim=1)
            if n_bits and bits.shape[1] != n_bits:
                raise RuntimeError(f"the layers gave {bits.shape[1]} code bits on this batch, {n_bits} on the first: "
                                   "does the forward depend on the input?")
            n_bits = bits.shape[1]
            if not logits:
                stop[0] = seen[0]  # from now on the forward ends with the layers' last call
            i += len(x)
            if progress:
                progress(i, total, {"cells": total})
            yield (np.packbits(bits.cpu().numpy(), axis=1),
                   out.float().cpu().numpy() if logits else np.zeros((len(x), 0), np.float32), n_bits)
            # a batch's activations and bits within BATCH_BYTES: a ResNet's 2048 cells are GBs
            step = max(1, min(batch_size, BATCH_BYTES // max(cell + n_bits, 1)))


def grid_samples(model: nn.Module, plane: Plane, resolution: int = 200, bounds=None, layers=None,
                 batch_size: int = 2048, progress=None, logits: bool = True) -> GridSamples:
    """Codes of `layers` (default every ReLU-like layer; bit on iff pre-activation > 0, as explorer.codes) and
    logits at each cell centre of the plane's grid, from one forward pass per batch. logits=False: codes only (its
    logits are (cells, 0)); after the first cell each forward stops once the layers' last call has run, so the
    codes of an early layer cost the layers up to it, not the whole network."""
    layers = tuple(relu_layers(model, layers))
    u, v = plane.grid(resolution, bounds)
    parts = list(_batches(model, plane, u, v, layers, batch_size, progress, logits))
    return GridSamples(u, v, np.concatenate([p for p, _, _ in parts]), parts[0][2],
                       np.concatenate([q for _, q, _ in parts]), plane.anchors, layers)


def partition(samples: GridSamples) -> GridRegions:
    """Region ids, boundaries, predicted classes and the decision boundary from grid samples (pure)."""
    shape = samples.u.shape
    rows = np.ascontiguousarray(samples.packed)
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()  # one opaque key per code: fast unique
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    ids = inverse.reshape(shape)
    pred = (samples.logits.argmax(1) if samples.logits.shape[1] else np.zeros(len(rows), int)).reshape(shape)
    return GridRegions(samples.u, samples.v, ids, rows[first], samples.n_bits, pred, _changes(ids), _changes(pred),
                       samples.anchors)


def grid_regions(model: nn.Module, plane: Plane, resolution: int = 200, bounds=None, layers=None,
                 progress=None) -> GridRegions:
    """The plane's pattern regions of `layers` (default the whole network) on a resolution x resolution grid."""
    return partition(grid_samples(model, plane, resolution, bounds, layers, progress=progress))


ZOOMS = (1.0, 1 / 3, 0.1, 1 / 30, 0.01)  # spans tried, widest first: shares of the anchors' box (Plane.bounds)
CELLS = 20  # cells a region on average at which a grid shows regions rather than confetti
SEARCH = 50  # the side of the grids that look for the span (a quarter of the cells of the default 100)
SEARCH_BATCH = 256  # cells a forward in the search: a span with too many codes is given up after a few batches


def shows_regions(r: GridRegions, cells: float = CELLS) -> bool:
    """Whether a grid shows its regions: resolved, and `cells` cells a region on average."""
    return r.resolved and r.ids.size >= cells * r.count


def _search_grid(model, plane, resolution, bounds, layers, progress, most: float):
    """Codes only (each forward stops after the layers) on a resolution² grid, or None as soon as more than `most`
    distinct codes are seen: the count only grows with more cells, so such a grid cannot show regions."""
    layers = tuple(relu_layers(model, layers))
    u, v = plane.grid(resolution, bounds)
    seen, parts, n_bits = set(), [], 0
    batches = _batches(model, plane, u, v, layers, SEARCH_BATCH, progress, logits=False)
    try:
        for packed, _, n in batches:
            parts.append(packed)
            n_bits = n
            seen.update(map(bytes, packed))
            if len(seen) > most:
                return None
    finally:
        batches.close()  # its hooks come off now, not when the generator is collected
    empty = np.zeros((u.size, 0), np.float32)
    return partition(GridSamples(u, v, np.concatenate(parts), n_bits, empty, plane.anchors, layers))


def widest_regions(model: nn.Module, plane: Plane, resolution: int = 100, layers=None, zooms=ZOOMS,
                   cells: float = CELLS, search: int = SEARCH, progress=None) -> GridRegions:
    """The grid regions at the widest of `zooms` (Plane.bounds(zoom=...)) whose grid shows_regions, trying the
    widest first on a search² grid (cells scaled to it), then the chosen span at resolution²; the narrowest span
    when none does (its summary then says the grid cannot resolve them). The search takes codes only: each forward
    stops after the layers (an early layer of a ResNet costs its stem, not the network), and a span is given up as
    soon as its grid has more codes than it can show; the logits are computed for the result's grid alone."""
    search = min(search, resolution)
    need = cells * (search / resolution) ** 2
    for zoom in zooms:
        bounds = plane.bounds(zoom=zoom)
        r = _search_grid(model, plane, search, bounds, layers, progress, search * search / need)
        if r is not None and shows_regions(r, need):
            break
    return grid_regions(model, plane, resolution, bounds, layers, progress)


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
