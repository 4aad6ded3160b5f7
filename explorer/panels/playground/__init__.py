"""Playground panel: a small MLP trained live on 2-D points, its exact linear regions redrawn as it trains."""
from __future__ import annotations

from ... import playground as core
from .._common import ErrorLine, Lab, load_bokeh
from .view import PlaygroundState, PlaygroundView

__all__ = ["Playground"]


class Playground(Lab):
    """Toy sets (moons, circles, spirals, XOR) or your own points: Playground(x=..., y=...) with x (N, 2) and
    integer labels y; width, depth, activation, dropout and weight decay; train and watch the regions move."""

    def __init__(self, x=None, y=None, classes=None, seed: int = 0):
        load_bokeh()  # before the view's figure
        own = None if x is None and y is None else core.points(x, y, classes)
        self.error = ErrorLine()
        self.state = PlaygroundState(core.playground(own or core.toy("moons"), seed=seed))  # the view rebuilds it
        self.view = PlaygroundView(self.state, self.error, own, seed)
        super().__init__([self.error, self.view])
        self.add_class("explorer-playground")
