"""The compare view: several methods (columns) on the current and next images (rows), each for its own class."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...saliency import overlay
from .._common import display_scale, guarded, png


class CompareView(W.HBox):
    """A grid of overlays that follows the map view's image, target, alpha and colormap."""

    def __init__(self, maps, error):
        self.maps, self.error = maps, error
        names = maps.method_names
        self.compare_methods = W.SelectMultiple(options=maps.method.options, value=tuple(names[:3]),
                                                description="compare", rows=6)
        self.compare_rows = W.IntSlider(3, min=1, max=6, description="images", continuous_update=False,
                                        tooltip="rows: the current image and the next ones")
        self.every = W.Button(description="every method", tooltip="compare all the methods that apply")
        self.compare_image, self.compare_caption = W.Image(format="png"), W.HTML()
        for w in (self.compare_methods, self.compare_rows):
            w.observe(self.draw, names="value")
        self.every.on_click(lambda _: setattr(self.compare_methods, "value", tuple(names)))
        maps.redrawn.append(self.draw)
        super().__init__([W.VBox([self.compare_methods, self.compare_rows, self.every]),
                          W.VBox([self.compare_caption, self.compare_image])])

    def compare_indices(self) -> list[int]:
        """The grid's rows: the current image and the next ones (wrapping round the split)."""
        n = len(self.maps.images)
        return [(self.maps.index.value + r) % n for r in range(min(self.compare_rows.value, n))]

    @guarded
    def draw(self, change=None) -> None:
        """The selected methods side by side on the same images, each image's own target class."""
        names, m = list(self.compare_methods.value), self.maps
        if not names:
            self.compare_image.value, self.compare_caption.value = b"", ""
            return
        rows, k = [], display_scale(m.images.shape[1], 128)  # tiles enlarged here, so the gaps stay thin
        for i in self.compare_indices():
            target = m.target_class(i)
            tiles = [overlay(m.images[i], m.cam(n, i, target), m.alpha.value, m.cmap.value).repeat(k, 0).repeat(k, 1)
                     for n in names]
            gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
            rows.append(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1))
        gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
        grid = np.concatenate([r for row in rows for r in (row, gap)][:-1], axis=0)
        self.compare_image.value = png(grid)
        self.compare_image.width = str(grid.shape[1])  # its own size, not stretched to the caption's width
        self.compare_image.layout.title = " | ".join(names)  # method order, left to right
        self.compare_caption.value = (f"columns: {text(' | '.join(names))}; rows: images "
                                      f"{', '.join(map(str, self.compare_indices()))}, each for its own target class")
