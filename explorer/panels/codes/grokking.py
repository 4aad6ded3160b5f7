"""Grokking (Humayun et al. 2024): train far past interpolation; accuracies and local complexity on a log-step axis,
PGD at an epsilon and the regions on a plane through three training inputs at a chosen checkpoint."""
from __future__ import annotations

import dataclasses

import ipywidgets as W
import numpy as np

from ...codes.grokking import CURVES, Settings, at_checkpoint_job, grokking_job
from .._common import guarded, load_bokeh
from .._jobbar import JobBar
from .._view import View
from ..geometry.figures import RegionMap
from ..landscape.figures import figure, view

QUICK = Settings(steps=10_000, checkpoints=14, width=100, depth=3, eval_points=300)  # about 30 s on the digits
COLOURS = ("#1f77b4", "#ff7f0e", "#d62728")
BLANK = {"image": [np.full((1, 1), np.nan)], "x": [0.0], "y": [0.0], "dw": [1.0], "dh": [1.0]}


def _curves(title: str, y_label: str, names, source):
    """Lines of `names` over step + 1 on a log axis, and the chosen checkpoint as a vertical line."""
    from bokeh.models import Span

    fig = figure(title, "step + 1 (log)", y_label, x_axis_type="log")
    for name, colour in zip(names, COLOURS, strict=True):
        fig.line("x", name, source=source, color=colour, line_width=2, legend_label=name)
        fig.scatter("x", name, source=source, color=colour, size=4)
    fig.legend.location, fig.legend.label_text_font_size = "bottom_left", "8pt"
    span = Span(location=1, dimension="height", line_color="grey", line_dash="dashed")
    fig.add_layout(span)
    return fig, span


class GrokkingView(View):
    """A seeded MLP of its own, trained on the session's data far past 100% training accuracy (a job); its curves
    stream in as checkpoints are measured. The sliders recompute PGD and the regions at one checkpoint."""

    again = "press <b>train</b>"

    def __init__(self, state, error, settings: Settings = QUICK):
        from bokeh.models import ColumnDataSource

        load_bokeh()
        self.settings, self.run_, self.at_ = settings, None, None
        self.steps = W.Dropdown(options=sorted({1_000, 3_000, 10_000, 30_000, 100_000, settings.steps}),
                                value=settings.steps, description="steps")
        self.button = W.Button(description="train", button_style="primary", icon="play")
        self.epsilon = W.FloatSlider(value=settings.epsilon, min=0.0, max=0.3, step=0.01, description="PGD ε",
                                     continuous_update=False, readout_format=".2f")
        self.checkpoint = W.IntSlider(value=0, min=0, max=0, description="checkpoint", continuous_update=False,
                                      disabled=True)
        self.at = W.HTML("train first: the sliders act on a finished run")
        self.sources = [ColumnDataSource({"x": [], **{c: [] for c in names}}) for names in (CURVES[:3], CURVES[3:])]
        (acc, span0), (lc, span1) = (_curves("accuracy (adversarial: PGD at the ε trained with)", "accuracy",
                                              CURVES[:3], self.sources[0]),  # a figure's source is its own (one doc)
                                      _curves("local complexity (units crossed)", "mean LC", CURVES[3:],
                                              self.sources[1]))
        self.figs, self.spans = [acc, lc], [span0, span1]
        self.map = RegionMap()
        self.map.figure.title.text = "regions on the plane through three training inputs"
        bar = JobBar("grokking")
        self.button.on_click(self.train)
        self.epsilon.observe(self.recompute, names="value")
        self.checkpoint.observe(self.recompute, names="value")
        super().__init__(state, error, [W.HBox([self.steps, self.button]), bar,
                                        W.HBox([view(f) for f in self.figs]),
                                        W.HBox([self.epsilon, self.checkpoint]),
                                        W.HBox([view(self.map.figure), self.at])], bar)

    def current(self) -> bool:
        """The run trains a model of its own: the session's weights never make it old."""
        return True

    @guarded
    def train(self, button=None) -> None:
        """A new run (a job: off the kernel's thread, cancellable); the sliders wait for it."""
        self.run_, self.checkpoint.disabled = None, True
        self._blank("training…")
        settings = dataclasses.replace(self.settings, steps=int(self.steps.value), epsilon=float(self.epsilon.value))
        self.submit(grokking_job(self.session_now().data, settings), self._trained, partial=self._draw)

    def _draw(self, rows) -> None:
        """The curves of the rows measured so far."""
        x = [r["step"] + 1 for r in rows]
        for source, names in zip(self.sources, (CURVES[:3], CURVES[3:]), strict=True):
            source.data = {"x": x, **{c: [r[c] for r in rows] for c in names}}

    def _trained(self, run) -> None:
        self.run_ = run
        self._draw(run.rows)
        with self.checkpoint.hold_trait_notifications():
            self.checkpoint.max, self.checkpoint.disabled = len(run.steps) - 1, False
        if self.checkpoint.value != len(run.steps) - 1:
            self.checkpoint.value = len(run.steps) - 1  # recompute() runs from its observer
        else:
            self.recompute()

    def _blank(self, why: str) -> None:
        """Nothing of an older checkpoint or epsilon stays on screen while the new one computes."""
        self.at_ = None
        self.at.value = why
        self.map.map_source.data, self.map.edge_source.data = dict(BLANK), dict(BLANK)
        self.map.anchors.data = {"x": [], "y": []}

    @guarded
    def recompute(self, change=None) -> None:
        """PGD at the slider's epsilon and the regions, at the slider's checkpoint (a job)."""
        run = self.run_
        if run is None:
            return
        i, eps = int(self.checkpoint.value), float(self.epsilon.value)
        for span in self.spans:
            span.location = run.steps[i] + 1
        self._blank(f"computing step {run.steps[i]:,}, ε = {eps:.2f}…")
        self.submit(at_checkpoint_job(run, i, eps), self._show)

    def _show(self, at) -> None:
        if self.run_ is None or (at.index, at.epsilon) != (self.checkpoint.value, float(self.epsilon.value)):
            return  # an answer for other choices: never drawn
        self.at_, row = at, self.run_.rows[at.index]
        self.map.draw(at.regions, "regions", 0)
        self.at.value = (f"<b>step {at.step:,}</b><br>train accuracy {row['train accuracy']:.1%}, test "
                         f"{row['test accuracy']:.1%}<br>adversarial accuracy at ε = {at.epsilon:.2f}: "
                         f"<b>{at.adversarial:.1%}</b> (PGD, {self.run_.settings.pgd_steps} steps, seeded)<br>"
                         f"LC at train / test / random points: {row['LC train']:.2f} / {row['LC test']:.2f} / "
                         f"{row['LC random']:.2f}<br>{at.regions.count:,} regions on the grid; "
                         f"{at.near:.1f} within 5% of the span of each white dot (training input)<br>"
                         "black: the decision boundary")
