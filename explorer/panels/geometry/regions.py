"""Linear regions on the plane through three test inputs: a grid job, the partition map, a click shows a region."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...capture import find_layers
from ...codes.extract import activation_codes
from ...geometry import region_at, regions_job
from ...geometry.lab import plane_of
from .._common import guarded
from .._jobbar import JobBar
from .._view import View
from ..landscape.figures import view
from .figures import ZOOM, ZOOMS, RegionMap, class_legend, summary

RESOLUTIONS = (50, 100, 200)


class RegionsView(View):
    """The partition of a plane into pattern regions (a lower bound on the grid), the decision boundary, and the
    region under a click: its code, its affine map on the plane and the training inputs that share it."""

    again = "press <b>compute regions</b>"

    def __init__(self, state, error):
        session = state.session
        from bokeh.events import Tap

        self.regions_ = None
        self.points = [W.IntText(value=v, description=d, layout=W.Layout(width="150px"))
                       for v, d in ((0, "input A"), (1, "input B"), (2, "input C"))]
        self.resolution = W.Dropdown(options=RESOLUTIONS, value=100, description="grid", layout=W.Layout(width="150px"))
        self.zoom = W.Dropdown(options=ZOOMS, value=ZOOM, description="span")
        relus = find_layers(session.model, "relu")  # the first ReLU: whole-network codes cut a plane into confetti
        self.layer = W.Dropdown(options=["all", *relus], value=relus[0] if relus else "all", description="layers")
        self.colour = W.ToggleButtons(options=["regions", "class"], value="regions")
        self.button = W.Button(description="compute regions", button_style="primary")
        self.progress = JobBar("regions")
        self.summary, self.legend, self.clicked = W.HTML(), W.HTML(), W.HTML()
        self.map = RegionMap()
        self.map.figure.on_event(Tap, lambda event: self.select(event.x, event.y))
        self.button.on_click(self.recompute)
        self.colour.observe(self.redraw, names="value")
        super().__init__(state, error, [W.HBox(self.points), W.HBox([self.resolution, self.zoom, self.layer]),
                                        W.HBox([self.button, self.colour]), self.progress,
                                        W.HBox([view(self.map.figure), W.VBox([self.summary, self.legend,
                                                                                self.clicked])])], self.progress)

    @property
    def map_source(self):
        """The map's image source (what tests read)."""
        return self.map.map_source

    def _indices(self) -> tuple[int, int, int]:
        idx = tuple(int(p.value) for p in self.points)
        n = len(self.session.data.inputs("test"))
        if any(i < 0 or i >= n for i in idx):
            raise ValueError(f"inputs must be test indices 0..{n - 1}; got {idx}")
        if len(set(idx)) < 3:
            raise ValueError(f"three different inputs make a plane; got {idx}")
        return idx

    def _layers(self):
        return None if self.layer.value == "all" else self.layer.value

    @guarded
    def recompute(self, _=None) -> None:
        """The grid of codes and logits on the plane, as a job (off the kernel's thread)."""
        idx = self._indices()
        self.plane_ = plane_of(self.session, idx)  # a ValueError for collinear inputs, here and now
        self.clicked.value, self.map.marker.data = "", {"x": [], "y": []}
        zoom = self.zoom.value
        bounds = zoom if zoom == "auto" else self.plane_.bounds(zoom=float(zoom))
        job = regions_job(self.session, idx, "test", int(self.resolution.value), bounds, self._layers())
        layer, box = self.layer.value, self.plane_.bounds()  # as asked: the menus may move while the job runs
        self.submit(job, lambda r: self._show(r, idx, layer, box))

    @guarded
    def _show(self, regions, idx, layer, box) -> None:
        self.regions_ = regions
        self.summary.value = summary(regions, idx, layer, box)
        self.redraw()

    @guarded
    def redraw(self, _=None) -> None:
        """Map coloured by region id or by class (with its legend); the decision boundary in black."""
        r = self.regions_
        if r is None:
            return
        classes = self.session.data.classes
        self.map.draw(r, self.colour.value, len(classes))
        self.legend.value = class_legend(r, classes) if self.colour.value == "class" else (
            "black lines: the decision boundary")

    @guarded
    def select(self, u: float, v: float) -> None:
        """The region holding plane point (u, v): code, affine map on the plane, training inputs with its code."""
        if self.regions_ is None:
            raise ValueError("compute the regions first, then click the plane")
        s = self.session
        layers = self._layers()
        codes = s.memo(("geometry-train-codes", layers),  # once per weights: every later click is one input
                       lambda: activation_codes(s.model, s.data.inputs("train"), layers))
        reg = region_at(s.model, self.plane_, float(u), float(v), layers, input_codes=codes, linearise=True)
        self.map.marker.data = {"x": [u], "y": [v]}
        bits = reg.bits.astype(int)
        head = "".join(map(str, bits[:48])) + ("…" if len(bits) > 48 else "")
        labels = s.data.labels("train")[reg.members].numpy() if len(reg.members) else np.zeros(0, int)
        counts = np.bincount(labels, minlength=len(s.data.classes))
        pred = int(np.argmax(reg.plane_bias + reg.plane_weight @ np.array([u, v])))
        members = ", ".join(f"{text(s.data.classes[c])}: {n}" for c, n in enumerate(counts) if n)
        self.clicked.value = (
            f"<b>region at ({u:.2f}, {v:.2f})</b>{'' if reg.exact else ' (tangent map: not piecewise linear)'}<br>"
            f"code: {int(bits.sum())} of {len(bits)} units on<br><code class='explorer-code'>{head}</code><br>"
            f"affine map on the plane: logits = A (u, v) + c, |A| = {np.linalg.norm(reg.plane_weight):.3f}, "
            f"predicts <b>{text(s.data.classes[pred])}</b><br>"
            f"training inputs with this code: {len(reg.members)}" + (f" ({members})" if members else ""))
