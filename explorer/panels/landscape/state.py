"""The landscape lab's shared choices: the axes of the slice shown, its span, and the point (α, β) on them."""
from __future__ import annotations

import traitlets as T

from .._view import LabState


class LandscapeState(LabState):
    """`axes` are the directions (d1, d2) of the slice shown (None before one is computed), `span` its half-width;
    α and β place the live point θ + α d1 + β d2 (the slice's marker and the point's readout follow them)."""

    axes = T.Any(None)
    span = T.Float(1.0)
    alpha = T.Float(0.0)
    beta = T.Float(0.0)
