"""Geometry panel: local affine maps, linear regions on a plane, layer similarity, neural collapse, features."""
from __future__ import annotations

import ipywidgets as W

from .._common import ErrorLine, Lab, load_bokeh
from .._view import LabState
from .collapse import CollapseView
from .features import FeaturesView
from .linear import LinearView
from .regions import RESOLUTIONS, RegionsView
from .similarity import SimilarityView

__all__ = ["RESOLUTIONS", "GeometryPanel"]

TITLES = ("linear map", "regions", "similarity", "collapse", "features")


class GeometryPanel(Lab):
    """The network as a piecewise-linear map, one view per tab; slow results run as jobs (explorer.geometry.lab)."""

    def __init__(self, session):
        load_bokeh()  # before any view
        self.session, self.error = session, ErrorLine()
        self.state = LabState(session)  # the views share no choice yet: each has its own controls
        self.linear = LinearView(self.state, self.error)
        self.regions = RegionsView(self.state, self.error)
        self.similarity = SimilarityView(self.state, self.error)
        self.collapse = CollapseView(self.state, self.error)
        self.features = FeaturesView(self.state, self.error)
        tabs = W.Tab([self.linear, self.regions, self.similarity, self.collapse, self.features])
        for i, t in enumerate(TITLES):
            tabs.set_title(i, t)
        super().__init__([self.error, tabs])
        self.add_class("explorer-geometry")
