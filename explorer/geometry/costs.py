"""Estimates of the geometry lab's jobs (explorer.estimates): grids of a plane."""
from __future__ import annotations

from ..estimates import CODES_OVERHEAD, activation_bytes, per_input
from ..jobs import Estimate


def regions(session, resolution: int) -> Estimate:
    """grid_samples: resolution² points of a plane through inputs, encoded in batches of 2048."""
    cells = resolution * resolution
    x = session.data.inputs("test")
    per = activation_bytes(session.model, x)
    sec = per_input(session.model, x, 512) * cells * CODES_OVERHEAD
    return Estimate(sec, min(cells, 2048) * per + cells * (per // 32 + 4 * session.data.n_classes + 16),
                    f"{cells:,} grid points")
