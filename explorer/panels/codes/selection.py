"""The selection view: what the box or lasso picked on the map, its images and its codes' statistics."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...codes import lab
from .._common import guarded

MAX_THUMBS = 32


class SelectionView(W.VBox):
    """Statistics by an exact chunked GEMM (memory near the codes' own) and thumbnails in one HTML widget."""

    def __init__(self, maps, error):
        self.maps, self.error = maps, error
        self.selection, self.thumbs = W.HTML(), W.HTML()
        maps.source.selected.on_change("indices", lambda attr, old, new: self.select(new))
        super().__init__([self.selection, self.thumbs])

    @guarded
    def select(self, points) -> None:
        """Show the selected images and their codes' statistics."""
        if not len(points):
            self.selection.value = self.thumbs.value = ""
            return
        choice, points = self.maps.choice, np.asarray(points)
        s, split = choice.view(), choice.split.value
        idx = self.maps.indices()[points]
        r = lab.session_selection(s, choice.layers(), split, idx)
        self.selection.value = (f"<b>{r['n']} selected</b>: {r['unique codes']} unique codes (redundancy ratio "
                                f"{r['redundancy ratio']:.3f}), {r['share of bits on']:.1%} of bits on, mean Hamming "
                                f"distance {r['mean Hamming distance']:.1f} of {r['bits']}; labels " + ", ".join(
                                    f"{text(s.data.classes[c])}: {n}" for c, n in enumerate(r["label counts"])
                                    if n))
        imgs = self.maps.thumbnails(points[:MAX_THUMBS])
        self.thumbs.value = "".join(f"<img src='{src}' title='#{idx[k]}' class='explorer-thumb'>"
                                    for k, src in enumerate(imgs))
