"""Saliency panel: pick an image, a method, a layer and a class; see the map overlaid, compare methods, rank them."""
from __future__ import annotations

from .._common import ErrorLine, Lab
from ..export import Export
from .compare import CompareView
from .maps import MapView
from .rank import RankView
from .trust import TrustView


class SaliencyPanel(Lab):
    """Two speeds: a change of image, method, layer, class or knob recomputes (memoised, one forward at most, none
    for a class switch); alpha and colormap only redraw. Slow evaluations run as jobs off the kernel's thread."""

    def __init__(self, session, split: str = "test", gallery: int = 8):
        self.session, self.error = session, ErrorLine()
        self.maps = MapView(session, self.error, split, gallery)
        self.compare = CompareView(self.maps, self.error)
        self.ranking = RankView(self.maps, self.compare, self.error)
        self.trust = TrustView(self.maps, self.compare, self.ranking, self.error)
        self._views = (self.maps, self.compare, self.ranking, self.trust)
        self.export = Export("saliency", lambda: {
            f"{self.maps.method.value}-image{self.maps.index.value}.png": self.maps.image.value,
            "compare.png": self.compare.compare_image.value, **self.ranking.exports()})
        super().__init__([self.error, self.maps, self.compare, self.ranking, self.trust, self.export])
        self.add_class("explorer-saliency")
        self.maps.recompute()
