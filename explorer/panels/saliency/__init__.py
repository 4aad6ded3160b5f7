"""Saliency panel: pick an image, a method, a layer and a class; see the map overlaid, compare methods, rank them."""
from __future__ import annotations

import ipywidgets as W

from ...saliency.lab import cam_layers, default_layer
from .._common import ErrorLine, Lab
from ..export import Export
from .compare import CompareView
from .dff import DffView
from .lrp import LrpView
from .maps import MapView, method_options
from .rank import RankView
from .roar import RoarView
from .state import SaliencyState
from .strip import ImageStrip
from .tcav import TcavView
from .trust import TrustView

TABS = ("compare methods", "evaluate", "trust", "LRP", "DFF concepts", "TCAV")


class SaliencyPanel(Lab):
    """Two speeds: a change of image, method, layer, class or knob recomputes (memoised, one forward at most, none
    for a class switch); alpha and colormap only redraw. Maps are computed off the kernel's thread on a private copy
    of the model; the views share one state (SaliencyState) and never each other."""

    def __init__(self, session, split: str = "test", gallery: int = 8):
        self.session, self.error = session, ErrorLine()
        images = session.data.display(split)  # the photos the maps are drawn on (display_size), any size
        layers = cam_layers(session)
        options = method_options(layers)
        self.method_names = [n for _, n in options]
        self.state = SaliencyState(session, split=split, method=options[0][1], layer_order=tuple(layers),
                                   layer=default_layer(session, layers))
        self.strip = ImageStrip(self.state, self.error, images, gallery)
        self.maps = MapView(self.state, self.error, images, options)
        self.compare = CompareView(self.state, self.error, images, options)
        self.ranking = RankView(self.state, self.error, self.method_names)
        self.roar = RoarView(self.state, self.error)
        self.trust = TrustView(self.state, self.error)
        self.lrp = LrpView(self.state, self.error, images)
        self.dff = DffView(self.state, self.error)  # concepts of a layer; TCAV: panel.tcav.given(...) takes tensors
        self.tcav = TcavView(self.state, self.error, session.data.classes, sorted(session.data.x))
        self.export = Export("saliency", lambda: {
            f"{self.state.method}-image{self.state.index}.png": self.maps.image.value,
            "compare.png": self.compare.png(), **self.ranking.exports()})
        self.tabs = tabs = W.Tab([self.compare, W.VBox([self.ranking, self.roar]), self.trust, self.lrp, self.dff,
                                   self.tcav])
        tabs.observe(lambda c: c["new"] == 3 and self.lrp.request_ is None and self.lrp.recompute(),
                     names="selected_index")  # scored when first opened
        for i, t in enumerate(TABS):
            tabs.set_title(i, t)
        super().__init__([self.error, self.strip, self.maps, tabs, self.export])
        self.add_class("explorer-saliency")
        self.strip.recompute()
        self.maps.recompute()
        self.compare.recompute()
