"""Neural collapse NC1-NC4 over the trainer's checkpoints as curves: a job with progress."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...geometry import collapse_job
from ...geometry.lab import COLLAPSE_MAX
from .._common import guarded
from .._jobbar import JobBar
from .._view import View
from ..landscape.figures import figure, view

METRICS = ("NC1", "NC2", "NC3", "NC4")
KEYS = {"NC1": "NC1", "NC2": "NC2 means equiangularity", "NC3": "NC3", "NC4": "NC4"}  # NC2: the means' angles
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


class CollapseView(View):
    """Papyan et al. (2020): within-class variability, simplex ETF, self-duality and nearest-mean agreement of the
    penultimate features at each checkpoint (lower: more collapsed)."""

    again = "press <b>compute collapse</b>"

    def __init__(self, state, error):
        from bokeh.models import ColumnDataSource

        self.rows_ = None
        self.button = W.Button(description="compute collapse", button_style="primary")
        self.progress = JobBar("collapse")
        self.note = W.HTML()
        self.source = ColumnDataSource({"epoch": [], **{m: [] for m in METRICS}})
        self.figure = fig = figure("neural collapse over training", "epoch", "value (log)", y_axis_type="log")
        for m, c in zip(METRICS, COLOURS, strict=True):
            fig.line("epoch", m, source=self.source, color=c, line_width=2, legend_label=m)
        self.button.on_click(self.recompute)
        super().__init__(state, error, [self.button, self.progress, self.note, view(fig)], self.progress)

    @guarded
    def recompute(self, _=None) -> None:
        """NC1-NC4 at every checkpoint (a clear error when the session kept none)."""
        if not list(self.session.history.checkpoints):
            raise ValueError("this session has no checkpoints: train it first (session.train(...) keeps one per "
                             "epoch), then compute the collapse")
        self.submit(collapse_job(self.session), self._show)

    @guarded
    def _show(self, rows) -> None:
        self.rows_ = rows
        layer = next(k for k in rows[0] if k != "epoch")  # the penultimate features (the head's input)
        floor = 1e-12  # a log axis: exact zeros drawn at the floor
        curves = {m: [max(float(r[layer].get(KEYS[m], float("nan"))), floor) for r in rows] for m in METRICS}
        self.source.data = {"epoch": [r["epoch"] for r in rows], **curves}
        last = rows[-1][layer]
        sampled = self.session.data.describe_sample("train", COLLAPSE_MAX)
        self.note.value = (f"features: <b>{text(layer)}</b> on {sampled}, {len(rows)} checkpoints; last epoch "
                           + ", ".join(f"{m} {last.get(KEYS[m], float('nan')):.3g}" for m in METRICS))
