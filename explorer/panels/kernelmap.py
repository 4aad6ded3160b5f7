"""A map of up to a million points drawn in the kernel: a bokeh figure showing one image (explorer.codes.bigmap
renders it with datashader); the page's pointer moves, lassos and zooms come to the kernel as bokeh events and are
answered by a nearest-point marker, a selection drawn into the image, and a new image at the new range."""
from __future__ import annotations

import numpy as np

from ..codes import bigmap
from ._common import load_bokeh, reporting
from .bokehjs import view

RENDERER = "datashader in the kernel"
HOVER_PX = 12  # a pointer further than this from every point shows no point


class KernelMap:
    """The figure and its handlers; `show` draws new points, `recolour` new colours of the same points."""

    def __init__(self, error, width: int = 400, height: int = 360, describe=None, on_select=None):
        self.error, self.width, self.height, self.describe, self.on_select = error, width, height, describe, on_select
        self.xy = self.codes = self.palette = self.tree = self.scale = None
        self.selected = np.zeros(0, bool)  # the lasso's points (none: every point in its colour)
        self.hovered, self.tips = None, {}
        self.plot = self.fig = self.shown_ = None

    def build(self) -> None:
        """The bokeh figure (self.fig) and its event handlers; `widget()` wraps it for the page."""
        from bokeh import events
        from bokeh.models import ColumnDataSource, LassoSelectTool, Legend, Range1d
        from bokeh.plotting import figure

        load_bokeh()
        fig = figure(frame_width=self.width, frame_height=self.height, tools="pan,wheel_zoom,reset",
                     x_range=Range1d(0, 1), y_range=Range1d(0, 1), title=f"drawn by {RENDERER}")
        self.image = ColumnDataSource({"image": [np.zeros((1, 1), np.uint32)], "x": [0], "y": [0], "dw": [1],
                                       "dh": [1]})
        fig.image_rgba("image", "x", "y", "dw", "dh", source=self.image)
        self.mark = ColumnDataSource({"x": [], "y": [], "text": []})  # the hovered point and what it is
        dot = fig.scatter("x", "y", source=self.mark, size=11, fill_alpha=0, line_color="black", line_width=2)
        fig.text("x", "y", "text", source=self.mark, x_offset=9, y_offset=-6, text_font_size="9pt",
                 background_fill_color="white", background_fill_alpha=0.85)
        self.keys = ColumnDataSource({"x": [], "y": [], "color": []})  # never drawn (NaN): the legend's swatches
        self.swatch = fig.scatter("x", "y", color="color", source=self.keys, size=8)
        self.legend = Legend(items=[], label_text_font_size="9pt")
        fig.add_layout(self.legend, "right")
        # its polygon comes as one event on release (continuous: an event per mouse move, each a kernel round trip)
        fig.add_tools(LassoSelectTool(renderers=[dot], continuous=False))
        fig.on_event(events.MouseMove, self._hover)
        fig.on_event(events.MouseLeave, lambda e: self._mark(None))
        fig.on_event(events.SelectionGeometry, self._lasso)
        fig.on_event(events.RangesUpdate, self._zoom)
        self.fig = fig

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
        self._legend(keys)
        self.selected = np.zeros(len(self.xy), bool)
        xr, yr = bigmap.extent(self.xy)
        self.scale = bigmap.pixel_scale(xr, yr, self.width, self.height)
        self.tree = bigmap.screen_tree(self.xy, self.scale)
        self.fig.title.text = f"{title}; drawn by {RENDERER}"
        self.mark.data = {"x": [], "y": [], "text": []}
        self.hovered = None
        self.ranges = (xr, yr)
        self.fig.x_range.update(start=xr[0], end=xr[1], reset_start=xr[0], reset_end=xr[1])
        self.fig.y_range.update(start=yr[0], end=yr[1], reset_start=yr[0], reset_end=yr[1])
        self.draw()

    def recolour(self, codes, palette, keys) -> None:
        """New colours of the same points."""
        self.codes, self.palette = np.asarray(codes), list(palette)
        self._legend(keys)
        self.draw()

    def _legend(self, keys) -> None:
        """One legend entry per colour present."""
        from bokeh.models import LegendItem

        present = np.flatnonzero(np.bincount(self.codes, minlength=len(self.palette)))
        nan = [float("nan")] * len(self.palette)
        self.keys.data = {"x": nan, "y": nan, "color": list(self.palette)}
        self.legend.items = [LegendItem(label=str(keys[int(c)]), renderers=[self.swatch], index=int(c))
                             for c in present]

    def select(self, mask) -> None:
        """Points in their colours, the others grey (an empty mask: every point in its colour)."""
        self.selected = np.asarray(mask, bool)
        self.draw()

    def draw(self) -> None:
        """Render the points at the current range and send the image (one binary buffer) to the page."""
        if self.xy is None:
            return
        codes, palette = self.codes, self.palette
        if self.selected.any():
            codes, palette = np.where(self.selected, codes, len(palette)), [*palette, bigmap.GREY]
        (x0, x1), (y0, y1) = self.ranges
        img = bigmap.render(self.xy, codes, palette, (x0, x1), (y0, y1), self.width, self.height)
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
        mask = bigmap.inside(self.xy, geometry["x"], geometry["y"])
        self.select(mask)
        if self.on_select is not None:
            self.on_select(np.flatnonzero(mask))

    @reporting
    def _zoom(self, event) -> None:
        if self.xy is None or None in (event.x0, event.x1, event.y0, event.y1):
            return
        new = ((event.x0, event.x1), (event.y0, event.y1))
        if new != self.ranges:
            self.ranges = new
            self.draw()
