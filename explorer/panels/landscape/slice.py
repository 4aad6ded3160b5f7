"""The slice view: axes, then a 2-D slice of the loss (preview first, refined in place) as a map and a curve."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ...landscape import BN_POLICIES, NORMS, lab
from .._common import guarded
from .._jobbar import JobBar
from .._view import View
from .figures import figure, view

RESOLUTIONS = (7, 11, 15, 21, 31, 41, 51)


class SliceView(View):
    """Axes and slice are jobs on a copy of the model (off the kernel's thread): the live point stays answering.
    The axes go to the state; the marker and the 1-D cut follow the state's α and β."""

    again = "press <b>compute slice</b>"

    def __init__(self, state, error, n_eval: int = 512, seed: int = 0):
        from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper, Span

        session = state.session
        self.n_eval, self.seed = n_eval, seed
        self.surface_ = self.axes_ = None
        self.kind = W.Dropdown(options=lab.AXES, value="random", description="axes")
        self.norm = W.Dropdown(options=NORMS, value="filter", description="normalise")
        self.span = W.FloatText(value=1.0, step=0.1, description="range ±")
        self.resolution = W.Dropdown(options=RESOLUTIONS, value=21, description="points")
        self.bn = W.Dropdown(options=BN_POLICIES, value="keep", description="BatchNorm")
        self.quantity = W.ToggleButtons(options=["loss", "accuracy"], value="loss")
        self.compute = W.Button(description="compute slice", button_style="primary")
        self.sampled = W.HTML(f"<small>loss and accuracy on {session.data.describe_sample('test', n_eval)}</small>")
        self.progress = JobBar("slice")
        self.mapper = LinearColorMapper(palette="Viridis256", nan_color=(0, 0, 0, 0))  # NaN/inf: a gap
        self.map_source = ColumnDataSource({"image": [np.full((1, 1), np.nan)], "x": [-1.0], "y": [-1.0],
                                            "dw": [2.0], "dh": [2.0]})
        self.marker = ColumnDataSource({"x": [0.0], "y": [0.0]})
        self.trajectory = ColumnDataSource({"x": [], "y": []})  # checkpoints projected on PCA axes (Li et al.)
        fig = figure("slice: f(α, β)", "α", "β", match_aspect=True)
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.map_source, color_mapper=self.mapper)
        fig.line("x", "y", source=self.trajectory, color="white", line_width=2)
        fig.scatter("x", "y", source=self.marker, marker="x", size=14, line_width=3, color="red")
        self.colour_bar = ColorBar(color_mapper=self.mapper, width=10, title="loss")
        fig.add_layout(self.colour_bar, "right")
        fig.min_border_right = 40  # room for the colour bar's labels
        self.curve = ColumnDataSource({"x": [], "y": []})
        self.curve_at = Span(location=0.0, dimension="height", line_color="red")
        cfig = figure("1-D: f(α) at the nearest β row", "α", "loss")
        cfig.line("x", "y", source=self.curve, line_width=2)
        cfig.add_layout(self.curve_at)
        self.figures = {"slice": fig, "slice-1d": cfig}
        self._row = None  # the surface row the curve shows
        self.compute.on_click(self.recompute)
        self.quantity.observe(self.redraw, names="value")
        state.observe(self.moved, names=["alpha", "beta"])
        super().__init__(state, error, [W.HBox([self.kind, self.norm, self.bn]),
                                        W.HBox([self.span, self.resolution, self.compute]), self.progress,
                                        self.sampled, W.HBox([view(fig), view(cfig)]), self.quantity], self.progress)

    def moved(self, change=None) -> None:
        """The live point moved: the marker and the curve's cursor at once (the map is unchanged)."""
        self.marker.data = {"x": [self.state.alpha], "y": [self.state.beta]}
        self.curve_at.location = self.state.alpha
        self.follow_beta()

    @guarded
    def recompute(self, _=None) -> None:
        """Axes (stored ones at once), then the slice through them; the map blank until its preview arrives."""
        s, kind, norm, span = self.session, self.kind.value, self.norm.value, float(self.span.value)
        job = lab.slice_job(s, None, kind, norm, self.seed, span, self.resolution.value, self.bn.value, self.n_eval)
        self.submit(lab.axes_job(s, kind, norm, self.seed), lambda axes: self._slice(axes, job, span))

    def _slice(self, axes, job, span) -> None:
        s = self.session
        job = lab.slice_job(s, axes, *job.key[1:])
        self.surface_, self.axes_ = None, axes  # never the old slice under the new axes
        self.map_source.data = {"image": [np.full((1, 1), np.nan)], "x": [-span], "y": [-span], "dw": [2 * span],
                                "dh": [2 * span]}
        self.curve.data = {"x": [], "y": []}
        with self.state.hold_trait_notifications():
            self.state.span, self.state.axes = span, axes
        self.submit(job, lambda surf: self._show(surf, axes, span), partial=lambda surf: self._stream(surf, axes))

    def _stream(self, surf, axes) -> None:
        """A refined snapshot of the slice being computed."""
        self.surface_, self.axes_ = surf, axes
        self.redraw()

    def _show(self, surf, axes, span) -> None:
        """A finished (or stored) slice: map, trajectory and the point under the sliders."""
        s = self.session
        self.surface_, self.axes_ = surf, axes
        self.progress(int(surf.done.sum()), surf.done.size)
        kind = self.kind.value
        xy = lab.project(s.model, s.history.checkpoints, *axes) if kind == "pca" else np.zeros((0, 2))
        self.trajectory.data = {"x": xy[:, 0], "y": xy[:, 1]}
        self.redraw()

    @guarded
    def redraw(self, _=None) -> None:
        """Map and curve from the stored surface (numpy only)."""
        surf = self.surface_
        if surf is None:
            return
        img = surf.filled(self.quantity.value)
        self.colour_bar.title = self.figures["slice-1d"].yaxis.axis_label = self.quantity.value
        lo, hi = surf.alphas[0], surf.alphas[-1]
        self.map_source.data = {"image": [np.ascontiguousarray(img.T)], "x": [lo], "y": [lo], "dw": [hi - lo],
                                "dh": [hi - lo]}  # image rows are β
        finite = img[np.isfinite(img)]
        if len(finite):
            self.mapper.low, self.mapper.high = float(finite.min()), float(finite.max())
        self._row = None
        self.follow_beta()

    def follow_beta(self) -> None:
        """The curve is the surface's row nearest the live β: sent again only when that row changes (a marker
        move along α changes nothing here, and the page then redraws only the marker)."""
        surf = self.surface_
        if surf is None:
            return
        j = int(np.abs(surf.betas - self.state.beta).argmin())
        if j != self._row:
            self._row = j
            self.curve.data = {"x": surf.alphas, "y": surf.filled(self.quantity.value)[:, j]}
