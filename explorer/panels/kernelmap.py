"""A map of up to a million points drawn in the kernel: a bokeh figure showing one image (explorer.codes.bigmap
renders it with datashader); the page's pointer moves, lassos and zooms come to the kernel as bokeh events and are
answered by a nearest-point marker, a selection drawn into the image, and a new image at the new range."""
from __future__ import annotations

import numpy as np

from ..codes import bigmap, lasso
from ._common import reporting
from .bokehjs import view
from .mapfigure import legend, map_figure

RENDERER = "datashader in the kernel"
HOVER_PX = 12  # a pointer further than this from every point shows no point


class KernelMap:
    """The figure and its handlers; `show` draws new points, `recolour` new colours of the same points."""

    def __init__(self, error, width: int = 400, height: int = 360, describe=None, on_select=None):
        self.error, self.width, self.height, self.describe, self.on_select = error, width, height, describe, on_select
        self.xy = self.codes = self.palette = self.tree = self.scale = self.by_x = None
        self.selected = np.zeros(0, bool)  # the lasso's points (none: every point in its colour)
        self.hovered, self.tips = None, {}
        self.plot = self.fig = self.shown_ = None
        self.agg_ = self.base_ = self.pix_ = self.keyed_ = None  # this drawing's counts and what a lasso reuses

    def build(self) -> None:
        """The bokeh figure (self.fig) and its event handlers; `widget()` wraps it for the page."""
        from bokeh import events

        vars(self).update(vars(map_figure(self.width, self.height, f"drawn by {RENDERER}")))  # fig, image, mark, ...
        self.fig.on_event(events.MouseMove, self._hover)
        self.fig.on_event(events.MouseLeave, lambda e: self._mark(None))
        self.fig.on_event(events.SelectionGeometry, self._lasso)
        self.fig.on_event(events.RangesUpdate, self._zoom)

    def widget(self):
        """The figure as a widget; made once, after a first `show` where there is one: its page gets the document
        as it is then, and patches of later changes (a patch sent before the page has a view is lost)."""
        if self.plot is None:
            self.plot = view(self.fig)
        return self.plot

    def update(self, xy, codes, palette, keys, title: str, tips: dict | None = None):
        """Draw xy (show) or, when it is the array drawn already, recolour it; the widget. tips: the hover's
        values per point ({"label": labels, ...}) where no `describe` is given."""
        self.tips = tips or {}
        if self.fig is None:
            self.build()
        if xy is self.shown_:
            self.recolour(codes, palette, keys)
        else:
            self.show(xy, codes, palette, keys, title)
            self.shown_ = xy
        return self.widget()

    def show(self, xy, codes, palette, keys, title: str) -> None:
        """New points (their colour codes index palette; keys name the colours): the whole map, no selection."""
        self.xy = bigmap.check_points(xy)
        self.codes, self.palette = np.asarray(codes), list(palette)
        legend(self, self.codes, self.palette, keys)
        self.selected = np.zeros(len(self.xy), bool)
        xr, yr = bigmap.extent(self.xy)
        self.scale = bigmap.pixel_scale(xr, yr, self.width, self.height)
        self.tree = bigmap.screen_tree(self.xy, self.scale)
        self.by_x = lasso.ByX(self.xy)  # a lasso's bounding box as a slice
        self.fig.title.text = f"{title}; drawn by {RENDERER}"
        self.mark.data = {"x": [], "y": [], "text": []}
        self.hovered = None
        self.ranges, self.pix_ = (xr, yr), None
        self.fig.x_range.update(start=xr[0], end=xr[1], reset_start=xr[0], reset_end=xr[1])
        self.fig.y_range.update(start=yr[0], end=yr[1], reset_start=yr[0], reset_end=yr[1])
        self.draw()

    def recolour(self, codes, palette, keys) -> None:
        """New colours of the same points."""
        self.codes, self.palette = np.asarray(codes), list(palette)
        legend(self, self.codes, self.palette, keys)
        self.draw()

    def select(self, mask) -> None:
        """Points in their colours, the others grey (an empty mask: every point in its colour); no new count."""
        self.selected = np.asarray(mask, bool)
        self.paint()

    def draw(self) -> None:
        """Count the points at the current range (datashader) and keep what a lasso reuses: the picture with every
        point grey, and each point's pixel and colour as one key; then paint."""
        if self.xy is None:
            return
        self.agg_ = bigmap.counts(self.xy, self.codes, len(self.palette), *self.ranges, self.width, self.height)
        if self.pix_ is None:  # new points or a new range (a recolour moves no point: the same grey picture)
            self.pix_ = bigmap.pixels(self.xy, *self.ranges, self.width, self.height)
            self.base_ = bigmap.greyed(self.agg_)
        self.keyed_ = self.pix_ * np.int32(len(self.palette)) + self.codes.astype(np.int32)
        self.paint()

    def paint(self) -> None:
        """Shade this drawing's counts, or with a selection only its pixels' box (bigmap.highlight), and send the
        image (one binary buffer) to the page."""
        if self.agg_ is None:
            return
        if self.selected.any():
            img = bigmap.highlight(self.base_, self.keyed_[self.selected], self.palette)
        else:
            img = bigmap.shade(self.agg_, self.palette)
        (x0, x1), (y0, y1) = self.ranges
        self.image.data = {"image": [img], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}

    def _mark(self, i) -> None:
        """Mark point i (None: no mark); sent only when the point changes."""
        if i == self.hovered:
            return
        self.hovered = i
        if i is None:
            self.mark.data = {"x": [], "y": [], "text": []}
            return
        text = self.describe(i) if self.describe else ", ".join(f"{k} {v[i]}" for k, v in self.tips.items()) or f"#{i}"
        self.mark.data = {"x": [float(self.xy[i, 0])], "y": [float(self.xy[i, 1])], "text": [text]}

    @reporting
    def _hover(self, event) -> None:
        if self.tree is None or event.x is None:
            return
        (x0, x1), _ = self.ranges  # the tree is in pixels of the first range: zoomed, a pixel is less data
        zoom = (self.width / (x1 - x0)) / self.scale[0]
        self._mark(bigmap.nearest(self.tree, self.scale, event.x, event.y, HOVER_PX / zoom))

    @reporting
    def _lasso(self, event) -> None:
        geometry = event.geometry
        if self.xy is None or not event.final or geometry.get("type") != "poly":
            return
        mask = lasso.inside(self.xy, geometry["x"], geometry["y"], self.by_x)
        self.select(mask)
        if self.on_select is not None:
            self.on_select(np.flatnonzero(mask))

    @reporting
    def _zoom(self, event) -> None:
        if self.xy is None or None in (event.x0, event.x1, event.y0, event.y1):
            return
        new = ((event.x0, event.x1), (event.y0, event.y1))
        if new != self.ranges:
            self.ranges, self.pix_ = new, None
            self.draw()
