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
from ..landscape.figures import figure, view

RESOLUTIONS = (50, 100, 200)


class RegionsView(View):
    """The partition of a plane into pattern regions (a lower bound on the grid), the decision boundary, and the
    region under a click: its code, its affine map on the plane and the training inputs that share it."""

    again = "press <b>compute regions</b>"

    def __init__(self, state, error):
        session = state.session
        from bokeh.events import Tap
        from bokeh.models import ColumnDataSource, LinearColorMapper, TapTool

        self.regions_ = None
        self.points = [W.IntText(value=v, description=d, layout=W.Layout(width="150px"))
                       for v, d in ((0, "input A"), (1, "input B"), (2, "input C"))]
        self.resolution = W.Dropdown(options=RESOLUTIONS, value=100, description="grid")
        self.layer = W.Dropdown(options=["all", *find_layers(session.model, "relu")], value="all", description="layers")
        self.colour = W.ToggleButtons(options=["regions", "class"], value="regions")
        self.button = W.Button(description="compute regions", button_style="primary")
        self.progress = JobBar("regions")
        self.summary, self.clicked = W.HTML(), W.HTML()
        self.mapper = LinearColorMapper(palette="Turbo256", nan_color=(0, 0, 0, 0))
        empty = {"image": [np.full((1, 1), np.nan)], "x": [0.0], "y": [0.0], "dw": [1.0], "dh": [1.0]}
        self.map_source, self.edge_source = ColumnDataSource(dict(empty)), ColumnDataSource(dict(empty))
        self.anchors = ColumnDataSource({"x": [], "y": [], "name": []})
        self.marker = ColumnDataSource({"x": [], "y": []})
        edges = LinearColorMapper(palette=["black"], low=0, high=1, nan_color=(0, 0, 0, 0))
        fig = figure("pattern regions on the plane", "u", "v", match_aspect=True)
        fig.width, fig.height = 420, 420
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.map_source, color_mapper=self.mapper)
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.edge_source, color_mapper=edges)
        fig.scatter("x", "y", source=self.anchors, size=12, color="white", line_color="black", line_width=2)
        fig.text("x", "y", text="name", source=self.anchors, x_offset=8, text_font_size="12px")
        fig.scatter("x", "y", source=self.marker, marker="x", size=14, line_width=3, color="red")
        fig.add_tools(TapTool())
        fig.on_event(Tap, lambda event: self.select(event.x, event.y))
        self.figure = fig
        self.button.on_click(self.recompute)
        self.colour.observe(self.redraw, names="value")
        super().__init__(state, error, [W.HBox(self.points), W.HBox([self.resolution, self.layer, self.button]),
                                        self.progress, self.colour, W.HBox([view(fig), W.VBox([self.summary,
                                                                                             self.clicked])])],
                         self.progress)

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
        self.clicked.value, self.marker.data = "", {"x": [], "y": []}
        job = regions_job(self.session, idx, "test", int(self.resolution.value), None, self._layers())
        self.submit(job, lambda r: self._show(r, idx))

    @guarded
    def _show(self, regions, idx) -> None:
        self.regions_ = regions
        a = regions.anchors
        self.anchors.data = {"x": a[:, 0], "y": a[:, 1], "name": [f"{n} #{i}" for n, i in zip("ABC", idx)]}
        span = float(np.hypot(*(a.max(0) - a.min(0))))
        dens = regions.density(0.1 * span)
        self.summary.value = (f"<b>{regions.count} regions</b> on the {regions.u.shape[0]}² grid (a lower bound: "
                              "regions smaller than a cell are missed)<br>regions within 10% of the plane's span: "
                              + ", ".join(f"{n} {d}" for n, d in zip("ABC", dens)))
        self.redraw()

    @guarded
    def redraw(self, _=None) -> None:
        """Map coloured by region id (shuffled, so neighbours differ) or by class; boundaries in black."""
        r = self.regions_
        if r is None:
            return
        if self.colour.value == "regions":
            img = np.random.default_rng(0).permutation(r.count)[r.ids].astype(float)
            self.mapper.low, self.mapper.high = 0, max(r.count - 1, 1)
            edge = r.decision
        else:
            img = r.predicted.astype(float)
            self.mapper.low, self.mapper.high = 0, max(len(self.session.data.classes) - 1, 1)
            edge = r.boundary
        x0, y0, x1, y1 = r.u.min(), r.v.min(), r.u.max(), r.v.max()
        geo = {"x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}
        self.map_source.data = {"image": [np.ascontiguousarray(img)], **geo}  # rows of u, v grids are v
        self.edge_source.data = {"image": [np.where(edge, 1.0, np.nan)], **geo}

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
        self.marker.data = {"x": [u], "y": [v]}
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
