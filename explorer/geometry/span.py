"""The widest span of a plane whose grid shows its linear regions rather than confetti: a search on small grids of
codes only, widest span first, then the regions at full resolution on the chosen span."""
from __future__ import annotations

import numpy as np
from torch import nn

from ..layers import relu_layers
from .plane import Plane
from .regions import GridRegions, GridSamples, grid_batches, grid_regions, partition

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
    batches = grid_batches(model, plane, u, v, layers, SEARCH_BATCH, progress, logits=False)
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
