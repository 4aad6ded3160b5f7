"""The compare view: several methods on the current and next images, each for its own class. Each method is a named
tile (its overlays, one per image, stacked); the tiles wrap to the panel's width, so every method of "every method"
is on screen with its name (one 25-column picture ran off the panel's right edge, named only in a caption)."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...saliency import overlay
from ...saliency.lab import Explainers, map_key
from .._common import close_tree, debounce, display_scale, guarded, png, reporting
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
                              layout=W.Layout(width="auto", min_width="max-content"))  # not cut: 'every me'
        self.compare_caption, self.tiles = W.HTML(), []
        self.grid = W.Box(layout=W.Layout(flex_flow="row wrap", width="100%"))
        state.compared = self.compare_methods.value
        W.link((self.compare_methods, "value"), (state, "compared"))
        self.every.on_click(lambda _: setattr(state, "compared", tuple(self.names)))
        self.compare_rows.observe(self.recompute, names="value")
        state.observe(self.recompute, names=["index", "method", "layer", "combine", "target", "klass", "params",
                                             "compared"])
        state.observe(self.redraw, names=["alpha", "cmap"])
        state.observe(self._fill, names="drawn")
        bar = JobBar("compare")
        right = W.VBox([self.compare_caption, bar, self.grid], layout=W.Layout(flex="1 1 0%", min_width="0"))
        controls = W.VBox([self.compare_methods, self.compare_rows, self.every], layout=W.Layout(flex="0 0 auto"))
        super().__init__(state, error, [W.HBox([controls, right], layout=W.Layout(width="100%"))], bar)

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
            self.compare_caption.value = ""
            self._tiles(0)
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

    def _columns(self) -> list[np.ndarray]:
        """Per method, its overlays on the grid's images stacked top to bottom (4-pixel white gaps); no model call."""
        st, k = self.state, display_scale(self.images.shape[1], 128)  # tiles enlarged here: the gaps stay thin
        columns = []
        for j in range(len(self.maps_[0])):
            tiles = [(overlay(self.images[r[4]], m, st.alpha, st.cmap) if m is not None else  # pale: still coming
                      (self.images[r[4]] * 0.3 + 178).astype(np.uint8)).repeat(k, 0).repeat(k, 1)
                     for r, m in (row[j] for row in self.maps_)]
            gap = np.full((4, tiles[0].shape[1], 3), 255, np.uint8)
            columns.append(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=0))
        return columns

    def png(self) -> bytes:
        """The whole grid as one picture (methods left to right, images top to bottom), for export."""
        if not self.maps_:
            return b""
        columns = self._columns()
        gap = np.full((columns[0].shape[0], 4, 3), 255, np.uint8)
        return png(np.concatenate([c for col in columns for c in (col, gap)][:-1], axis=1))

    def _tiles(self, n: int) -> list:
        """n tiles (a name over a picture), made once and reused; the ones no longer shown are closed."""
        while len(self.tiles) < n:
            tile = W.VBox([W.HTML(), W.Image(format="png")],
                          layout=W.Layout(margin="0 6px 6px 0", align_items="center", flex="0 0 auto"))
            tile.add_class("explorer-tile")
            self.tiles.append(tile)
        extra, self.tiles = self.tiles[n:], self.tiles[:n]
        self.grid.children = self.tiles
        for t in extra:
            close_tree(t)
        return self.tiles

    @reporting
    def redraw(self, change=None) -> None:
        """The tiles from the maps computed (no model call): each overlay over its own image."""
        if not self.maps_:
            return
        names = [r[0] for r, _ in self.maps_[0]]
        columns = self._columns()
        width = min(columns[0].shape[1], 128 if len(names) <= 6 else 96)  # many methods: smaller tiles, more a row
        for j, (tile, name, column) in enumerate(zip(self._tiles(len(names)), names, columns)):
            label, image = tile.children
            notes = sorted({n for row in self.maps_ for n in self.explainers.notes(row[j][0])})
            mark = " &#9888;" if notes else ""  # the map view says the notes in full
            tip = text(name + (": " + " ".join(notes) if notes else ""))  # on the name: an Image's tooltip breaks
            label.value = (f"<div title='{tip}' style='width:{width}px;font-size:11px;line-height:1.2;"  # its view
                           f"text-align:center;overflow-wrap:anywhere'>{text(name)}{mark}</div>")
            image.value, image.width = png(column), str(width)  # the browser scales a larger picture down
        self.compare_caption.value = (f"{len(names)} method{'s' * (len(names) > 1)}; images "
                                      f"{', '.join(str(row[0][0][4]) for row in self.maps_)} top to bottom, each "
                                      "for its own target class")
