"""Estimates of the geometry lab's jobs (explorer.estimates): plane grids, feature visualisation, CKA."""
from __future__ import annotations

from ..estimates import CODES_OVERHEAD, activation_bytes, param_bytes, per_input, timed_pass
from ..jobs import Estimate

FEATVIS_PER_GRAD = 6.0  # a step of the image's parametrisation, jitter and Adam against one forward and backward


def regions(session, resolution: int) -> Estimate:
    """grid_samples: resolution² points of a plane through inputs, encoded in batches of 2048."""
    cells = resolution * resolution
    x = session.data.inputs("test")
    per = activation_bytes(session.model, x)
    sec = per_input(session.model, x, 512) * cells * CODES_OVERHEAD
    return Estimate(sec, min(cells, 2048) * per + cells * (per // 32 + 4 * session.data.n_classes + 16),
                    f"{cells:,} grid points")


def feature_visualisation(session, steps: int = 64, facets: int = 0, split: str = "train") -> Estimate:
    """Activation maximisation: `steps` optimiser steps on one image (per facet), after one forward over a
    split's images to find the top ones (facets > 0)."""
    import sys

    x = session.data.inputs(split)
    step = timed_pass(session.model, x[:1], grad=True) * FEATVIS_PER_GRAD
    first = 0.0 if "sympy" in sys.modules else 3.0  # torch.optim's first step imports its compiler stack (sympy)
    sec = first + step * steps * max(1, facets) + (per_input(session.model, x) * len(x) if facets else 0.0)
    return Estimate(sec, 4 * param_bytes(session.model) + 256 * activation_bytes(session.model, x),
                    f"{max(1, facets) * steps} optimiser steps")


def cka(session, x, models: int = 1) -> Estimate:
    """The activations of every layer on x (per model), then a Gram matrix per layer and CKA between them."""
    units = activation_bytes(session.model, x) // 4
    sec = per_input(session.model, x) * len(x) * models + 3e-10 * len(x) ** 2 * units * models + 0.02
    return Estimate(sec, 8 * len(x) ** 2 * 2 * len(list(session.model.modules())) + len(x) * units * 4 * models,
                    f"Gram matrices of {len(x):,} inputs")
