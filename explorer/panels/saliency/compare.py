"""The compare view: several methods (a named cell each, wrapping within the panel) on the current and next images
(rows), each for its own class."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...saliency import overlay
from ...saliency.lab import Explainers, map_key
from .._common import debounce, display_scale, guarded, png, reporting
from .._jobbar import JobBar
from .._view import View


class CompareView(View):
    """A grid of overlays that follows the state's image, layers, class, alpha and colormap. Its maps are one job on
    its own copy of the model, but for the map view's own map, which it takes from the state when it is drawn; a
    burst of image moves waits for the last (debounced in a kernel)."""

    cheap = True

    def __init__(self, state, error, images, options):
        self.images, self.names, self.maps_ = images, [n for _, n in options], None
        self.explainers = Explainers(state.session)
        self.compare_methods = W.SelectMultiple(options=options, value=tuple(self.names[:3]),
                                                description="compare", rows=6)
        self.compare_rows = W.IntSlider(3, min=1, max=6, description="images", continuous_update=False,
                                        tooltip="rows: the current image and the next ones")
        self.every = W.Button(description="every method", tooltip="compare all the methods that apply",
                              layout=W.Layout(width="auto", min_width="max-content"))
        self.compare_caption = W.HTML()
        # one cell a method, side by side and wrapping onto the next line at the panel's edge (issue 23.3)
        self.cells = W.Box(layout=W.Layout(display="flex", flex_flow="row wrap", width="100%", gap="8px"))
        state.compared = self.compare_methods.value
        W.link((self.compare_methods, "value"), (state, "compared"))
        self.every.on_click(lambda _: setattr(state, "compared", tuple(self.names)))
        self.compare_rows.observe(self.recompute, names="value")
        state.observe(self.recompute, names=["index", "method", "layer", "combine", "target", "klass", "params",
                                             "compared"])
        state.observe(self.redraw, names=["alpha", "cmap"])
        state.observe(self._fill, names="drawn")
        bar = JobBar("compare")
        controls = W.VBox([self.compare_methods, self.compare_rows, self.every], layout=W.Layout(flex="0 0 auto"))
        grid = W.VBox([self.compare_caption, bar, self.cells], layout=W.Layout(flex="1 1 0%", min_width="0"))
        super().__init__(state, error, [W.HBox([controls, grid], layout=W.Layout(width="100%"))], bar)

    def compare_indices(self) -> list[int]:
        """The grid's rows: the current image and the next ones (wrapping round the split)."""
        n = len(self.images)
        return [(self.state.index + r) % n for r in range(min(self.compare_rows.value, n))]

    @debounce(0.15)
    @guarded
    def recompute(self, change=None) -> None:
        """The grid's maps: stored ones at once, the others as this view's job."""
        names, st = list(self.state.compared), self.state
        if not names:
            self.maps_ = None
            self.cells.children, self.compare_caption.value = (), ""
            self.drawn()
            return
        grid = [[st.request(n, i) for n in names] for i in self.compare_indices()]
        main = st.request(st.method) if st.method in names else None  # the map view computes that one
        todo = [r for row in grid for r in row if r != main]
        self.submit(self.explainers.maps_job(todo), lambda maps: self._done(maps, grid, todo))

    def _done(self, maps, grid, todo) -> None:
        self.explainers.keep(maps, self.ticket_, todo)
        self.maps_ = [[(r, self.explainers.stored(r)) for r in row] for row in grid]
        self.redraw()

    def _fill(self, change=None) -> None:
        """The map view drew a map: a tile still waiting for it gets it."""
        if self.maps_ and any(m is None and map_key(*r) == self.state.drawn for row in self.maps_ for r, m in row):
            self.maps_ = [[(r, self.explainers.stored(r) if m is None else m) for r, m in row] for row in self.maps_]
            self.redraw()

    def _tiles(self) -> list[list[np.ndarray]]:
        """Per image row, per method, the overlay (pale: its map is still coming), enlarged near 128 pixels high (the
        gaps stay thin)."""
        st, k = self.state, display_scale(self.images.shape[1], 128)
        return [[(overlay(self.images[r[4]], m, st.alpha, st.cmap) if m is not None else
                  (self.images[r[4]] * 0.3 + 178).astype(np.uint8)).repeat(k, 0).repeat(k, 1) for r, m in row]
                for row in self.maps_]

    @reporting
    def redraw(self, change=None) -> None:
        """One named cell a method: its tiles over the rows' images, top to bottom (no model call)."""
        if not self.maps_:
            self.cells.children = ()
            return
        tiles, names = self._tiles(), [r[0] for r, _ in self.maps_[0]]
        gap = np.full((4, tiles[0][0].shape[1], 3), 255, np.uint8)
        columns = [np.concatenate([t for row in tiles for t in (row[j], gap)][:-1], axis=0) for j in range(len(names))]
        if len(self.cells.children) != len(names):
            self.cells.children = [W.VBox([W.HTML(), W.Image(format="png")], layout=W.Layout(flex="0 0 auto"))
                                   for _ in names]
        for cell, name, column in zip(self.cells.children, names, columns):
            label, image = cell.children
            label.value = f"<b>{text(name)}</b>"
            image.value, image.width = png(column), str(column.shape[1])
            label.layout.width = image.layout.width = f"{column.shape[1]}px"  # a long name wraps, not the grid
        self.compare_caption.value = (f"{len(names)} method{'s' * (len(names) != 1)}; rows: images "
                                      f"{', '.join(str(row[0][0][4]) for row in self.maps_)}, each for its own "
                                      "target class")

    def grid_png(self) -> bytes:
        """The whole grid as one PNG (methods left to right, images top to bottom): what the export saves."""
        if not self.maps_:
            return b""
        rows = []
        for row in self._tiles():
            gap = np.full((row[0].shape[0], 4, 3), 255, np.uint8)
            rows.append(np.concatenate([t for tile in row for t in (tile, gap)][:-1], axis=1))
        gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
        return png(np.concatenate([r for row in rows for r in (row, gap)][:-1], axis=0))
