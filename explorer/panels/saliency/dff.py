"""The DFF view: concepts of a layer factorised over a few images (Deep Feature Factorization, Collins et al. 2018),
each image with its concepts coloured and a table of each concept's top categories."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...saliency.dff import concept_overlay, dff_job, rainbow
from .._common import display_scale, guarded, png
from .._jobbar import JobBar
from .._view import View

CHANGED = ("<div class='explorer-dff-changed' style='color:#8a5a00'>&#9888; the choices changed since: this is the "
           "result for the choices named below; press <b>Factorize</b> for the new ones</div>")


class DffView(View):
    """Deep Feature Factorization of the lab's image and the next ones at a layer: one job on a copy of the model.
    A drawn result names the choices it is for and says so when they change; a result of an older request is never
    drawn; the weights' changes are marked by the View."""

    again = "press <b>Factorize</b>"
    press = "factorize"

    def __init__(self, state, error):
        slow = dict(continuous_update=False)
        self.layer = W.Dropdown(options=list(state.layer_order), value=state.layer, description="layer")
        self.components = W.IntSlider(4, min=1, max=32, description="concepts", **slow)
        self.n_images = W.IntSlider(4, min=1, max=8, description="images", **slow)
        self.button = W.Button(description="Factorize", icon="th", tooltip="non-negative factorization of the "
                               "layer's activations over the images: each concept a colour")
        self.bar = JobBar("DFF")
        self.changed, self.caption = W.HTML(), W.HTML()
        self.image, self.legend = W.Image(format="png"), W.HTML()
        self.image.add_class("explorer-dff-image")
        self.result_ = self.request_ = self.drawn_ = None
        self.button.on_click(self.factorize)
        for w in (self.layer, self.components, self.n_images):
            w.observe(self.mark, names="value")
        state.observe(self.mark, names=["index", "split"])
        super().__init__(state, error, [W.HBox([self.layer, self.components, self.n_images, self.button]),
                                        self.bar, self.changed, self.caption, self.image, self.legend], self.bar)

    def request(self) -> tuple:
        """(split, image indices, layer, concepts): what a result is for (the lab's image and the next ones)."""
        st = self.state
        n = len(self.session.data.labels(st.split))
        idx = tuple(sorted({(st.index + i) % n for i in range(self.n_images.value)}))
        return st.split, idx, self.layer.value, self.components.value

    @guarded
    def factorize(self, button=None) -> None:
        """DFF of the chosen images at the chosen layer (a job; the latest request wins)."""
        request = self.request_ = self.request()
        split, idx, layer, k = request
        if layer is None:
            raise ValueError("DFF needs a layer with spatial maps; this model offers none")
        s = self.session_now()
        x = s.data.inputs(split)[list(idx)]
        self.submit(dff_job(s, x, layer, k, top_k=3), lambda r: self._show(r, request), session=s)

    def mark(self, change=None) -> None:
        """A choice changed: a drawn result for other choices says so."""
        self.changed.value = CHANGED if self.drawn_ is not None and self.request() != self.drawn_ else ""

    def _show(self, r, request: tuple) -> None:
        if request != self.request_:  # an older request's result: never drawn
            return
        split, idx, layer, k = request
        self.result_, self.drawn_ = r, request
        colors = rainbow(k)
        photos = self.session.data.display(split, list(idx))
        tiles = [concept_overlay(p, m, colors) for p, m in zip(photos, r.maps)]
        gap = np.full((tiles[0].shape[0], 2, 3), 255, np.uint8)
        strip = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
        self.image.value = png(strip, display_scale(strip.shape[0], 128))
        self.caption.value = (f"{k} concepts of layer <b>{text(layer)}</b> over {text(split)} images "
                              f"{', '.join(map(str, idx))} (left to right); each pixel in the colour of its "
                              "strongest concept, brighter where it is stronger")
        self.legend.value = self.table(r, colors)
        self.mark()

    def table(self, r, colors) -> str:
        """The legend: per concept its colour, the share of pixels it leads, and its top categories with scores."""
        names = self.session.data.classes
        area = np.bincount(r.maps.argmax(1).ravel(), minlength=len(colors)) / r.maps[:, 0].size
        head = "<tr><th>concept</th><th>leads</th><th>top categories (softmax of the head on the concept)</th></tr>"
        rows = []
        for k, c in enumerate(colors):
            hex_ = "#" + "".join(f"{int(v * 255):02x}" for v in c)
            top = ("no head takes this layer's channels" if r.top is None else ", ".join(
                f"{text(names[j] if j < len(names) else j)} ({r.scores[k, j]:.2f})" for j in r.top[k]))
            rows.append(f"<tr><td><span style='color:{hex_}'>&#9632;</span> {k}</td><td>{area[k]:.0%}</td>"
                        f"<td>{top}</td></tr>")
        return f"<table class='explorer-table explorer-dff-legend'>{head}{''.join(rows)}</table>"
