"""Linear regions on a plane by a dense grid: cells share a region when their activation codes agree."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import eval_mode
from ..data import model_dtype
from ..device import model_device
from ..layers import relu_layers, resolve
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


def grid_batches(model: nn.Module, plane: Plane, u: np.ndarray, v: np.ndarray, layers: tuple[str, ...], batch_size: int,
             progress, logits: bool):
    """Yield (packed codes, logits, code bits) of the cells u, v batch by batch (see grid_samples)."""
    device, dtype = model_device(model), model_dtype(model)
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
    parts = list(grid_batches(model, plane, u, v, layers, batch_size, progress, logits))
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
