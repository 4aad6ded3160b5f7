"""The selection view: what the box or lasso picked on the map, its images and its codes' statistics."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...codes import lab
from .._common import guarded
from .._images import thumbnails
from .._view import View

MAX_THUMBS = 32


class SelectionView(View):
    """Statistics by an exact chunked GEMM (memory near the codes' own) and thumbnails in one HTML widget; from the
    state's selection (positions on the map) and points (the split's indices drawn)."""

    cheap = True

    def __init__(self, state, error):
        self.selection, self.thumbs = W.HTML(), W.HTML()
        super().__init__(state, error, [self.selection, self.thumbs])
        state.observe(self.recompute, names=["selection", "points"])

    @guarded
    def recompute(self, change=None) -> None:
        """Show the selected images and their codes' statistics."""
        st = self.state
        if not st.selection or st.points is None:
            self.selection.value = self.thumbs.value = ""
            self.shown_ = None
            return
        s, split = self.session_now(), st.split
        idx = np.asarray(st.points)[np.asarray(st.selection, int)]
        r = lab.session_selection(s, st.layers(), split, idx)
        self.selection.value = (f"<b>{r['n']} selected</b>: {r['unique codes']} unique codes (redundancy ratio "
                                f"{r['redundancy ratio']:.3f}), {r['share of bits on']:.1%} of bits on, mean Hamming "
                                f"distance {r['mean Hamming distance']:.1f} of {r['bits']}; labels " + ", ".join(
                                    f"{text(s.data.classes[c])}: {n}" for c, n in enumerate(r["label counts"])
                                    if n))
        self.thumbs.value = "".join(f"<img src='{src}' title='#{i}' class='explorer-thumb' style='margin:2px'>"
                                    for i, src in zip(idx, thumbnails(s.data, split, idx[:MAX_THUMBS])))
        self.drawn(s)
