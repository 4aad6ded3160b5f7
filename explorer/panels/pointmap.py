"""Any embedding's map of up to a million points (CAP; beyond, a seeded sample, and the map says so): drawn in the
kernel (KernelMap), coloured by one of several colourings chosen in a menu, a lasso's points in `selection_`."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..codes import bigmap
from ._common import ErrorLine, guarded
from .codes.colouring import PALETTE
from .kernelmap import KernelMap


class PointMap(W.VBox):
    """PointMap(xy, {"label": labels, ...}): each colouring an integer per point (0 .. k-1), keys[name] its k names
    (default: the numbers); describe(i) the hover's text of point i of xy."""

    def __init__(self, xy, colourings: dict, keys: dict | None = None, describe=None, title: str = "map",
                 cap: int | None = bigmap.CAP, seed: int = 0):
        self.xy, self.colourings, self.key_names, self.describe = xy, colourings, keys or {}, describe
        self.map_title, self.cap, self.seed = title, cap, seed
        self.selection_ = np.zeros(0, int)
        self.error = ErrorLine()
        self.colour = W.Dropdown(options=list(colourings), description="colour")
        self.map = KernelMap(self.error, describe=self._describe, on_select=self._selected)
        self.map.build()
        self.draw()  # before the widget exists: the page gets the drawn document
        super().__init__([self.colour, self.error, self.map.widget()])
        self.add_class("explorer-pointmap")
        self.colour.observe(self.recolour, names="value")

    @guarded
    def draw(self) -> None:
        """Sample (beyond the cap) and draw the points."""
        xy = bigmap.check_points(self.xy)
        self.idx_, sampled = bigmap.capped(len(xy), self.cap, self.seed)
        codes, palette, keys = self._colouring()
        self.map.show(xy[self.idx_], codes, palette, keys, "; ".join(filter(None, (self.map_title, sampled))))

    def _colouring(self):
        """(codes of the drawn points, palette, keys) of the chosen colouring."""
        name = self.colour.value
        values = np.asarray(self.colourings[name])
        if len(values) != len(self.xy):
            raise ValueError(f"colouring {name!r} has {len(values):,} values for {len(self.xy):,} points")
        values = values[self.idx_]
        k = int(values.max(initial=0)) + 1
        keys = self.key_names.get(name) or [str(c) for c in range(k)]
        return values, [PALETTE[c % len(PALETTE)] for c in range(len(keys))], keys

    @guarded
    def recolour(self, change=None) -> None:
        """The same points in the chosen colouring."""
        self.map.recolour(*self._colouring())

    def _describe(self, i: int) -> str:
        j, name = int(self.idx_[i]), self.colour.value
        return self.describe(j) if self.describe else f"#{j}: {name} {self.colourings[name][j]}"

    def _selected(self, drawn: np.ndarray) -> None:
        self.selection_ = self.idx_[drawn]
