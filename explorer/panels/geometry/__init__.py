"""Geometry panel: local affine maps, linear regions on a plane, layer similarity, neural collapse, features."""
from __future__ import annotations

import ipywidgets as W

from .._common import ErrorLine, Lab, load_bokeh
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
        self.linear = LinearView(session, self.error)
        self.regions = RegionsView(session, self.error)
        self.similarity = SimilarityView(session, self.error)
        self.collapse = CollapseView(session, self.error)
        self.features = FeaturesView(session, self.error)
        self._views = (self.linear, self.regions, self.similarity, self.collapse, self.features)
        tabs = W.Tab(list(self._views))
        for i, t in enumerate(TITLES):
            tabs.set_title(i, t)
        super().__init__([self.error, tabs])
        self.add_class("explorer-geometry")
