"""CKA between every pair of layers as a heat map with hover: linear, debiased or minibatch, a job."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ...geometry import cka_job
from .._common import guarded
from .._jobbar import JobBar
from .._view import View
from ..landscape.figures import view


class SimilarityView(View):
    """Linear CKA (Kornblith et al. 2019) of every pair of stages of the model on test inputs."""

    again = "press <b>compute CKA</b>"
    minibatch = 100  # inputs per batch of minibatch CKA (debiased, Nguyen et al. 2021): memory of one batch

    def __init__(self, state, error, max_points: int = 500):
        session = state.session
        from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper
        from bokeh.plotting import figure

        self.max_points, self.cka_ = max_points, None
        self.debiased = W.ToggleButtons(options=["linear", "debiased", "minibatch"], value="linear",
                                        tooltips=["", "", f"debiased, {self.minibatch} inputs at a time"])
        self.sampled = W.HTML(f"<small>on {session.data.describe_sample('test', max_points)}</small>")
        self.button = W.Button(description="compute CKA", button_style="primary")
        self.progress = JobBar("CKA")
        self.source = ColumnDataSource({"row": [], "col": [], "value": []})
        self.mapper = LinearColorMapper(palette="Viridis256", low=0, high=1)
        self.figure = fig = figure(title="CKA between layers", width=460, height=420, toolbar_location=None,
                                   x_range=[""], y_range=[""])
        fig.rect("col", "row", 1, 1, source=self.source, fill_color={"field": "value", "transform": self.mapper},
                 line_color=None)
        fig.add_layout(ColorBar(color_mapper=self.mapper, width=10, title="CKA"), "right")
        fig.add_tools(HoverTool(tooltips=[("layers", "@row / @col"), ("CKA", "@value{0.000}")]))
        fig.xaxis.major_label_orientation = 0.9
        self.button.on_click(self.recompute)
        self.debiased.observe(self.recompute, names="value")
        super().__init__(state, error, [W.HBox([self.debiased, self.button]), self.sampled, self.progress,
                                        view(fig)], self.progress)

    @guarded
    def recompute(self, _=None) -> None:
        """CKA of every layer pair, as a job."""
        kind = self.debiased.value
        job = cka_job(self.session, None, "test", self.max_points, kind != "linear",
                      self.minibatch if kind == "minibatch" else None)
        self.submit(job, self._show)

    @guarded
    def _show(self, m) -> None:
        self.cka_ = m
        rows, cols = np.meshgrid(range(len(m.rows)), range(len(m.cols)), indexing="ij")
        self.figure.x_range.factors, self.figure.y_range.factors = list(m.cols), list(m.rows)[::-1]
        self.source.data = {"row": [m.rows[i] for i in rows.ravel()], "col": [m.cols[j] for j in cols.ravel()],
                            "value": m.values.ravel()}
