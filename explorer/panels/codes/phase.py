"""Phase chart (He et al. 2021): redundancy and k-NN accuracy over width x training time, per sample size."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...codes import PRESETS, REGIMES, lab, regimes
from ...table import Table
from .._common import ErrorLine, guarded, load_bokeh
from .._jobbar import JobBar
from .._view import LabState, View
from ..bokehjs import view
from ..export import Export, bokeh_html

SHORT = {r: r[0].upper() for r in REGIMES}  # U, C, S on the cells
BACKENDS = ("sequential", "loky", "threading")  # joblib's local backends; Dask and Ray through the engine box


def _heatmap(title: str, source, palette: str, low: float, high: float):
    """A categorical heat map (width x epoch) with the regime letter in each cell."""
    from bokeh.models import ColorBar, LinearColorMapper
    from bokeh.plotting import figure

    mapper = LinearColorMapper(palette=palette, low=low, high=high)
    fig = figure(title=title, width=420, height=320, x_range=[], y_range=[], x_axis_label="width",
                 y_axis_label="epochs", toolbar_location=None, tools="hover",
                 tooltips=[("width", "@width"), ("epochs", "@epoch"), ("value", "@value{0.000}"),
                           ("regime", "@regime")])
    fig.rect("width", "epoch", 1, 1, source=source, fill_color={"field": "value", "transform": mapper},
             line_color=None)
    fig.text("width", "epoch", text="letter", source=source, text_align="center", text_baseline="middle",
             text_color="ink", text_font_size="11px")  # black on the pale end of the palette, white elsewhere
    fig.add_layout(ColorBar(color_mapper=mapper, width=10), "right")
    fig.min_border_right = 40  # room for the colour bar's labels
    return fig


class PhasePanel(View):
    """Run a sweep of one-hidden-layer MLPs (width x epochs x sample size) and draw the paper's phase chart. Its
    models are its own: the session's weights do not change it (only its data)."""

    def __init__(self, session, state: LabState | None = None):
        from bokeh.models import ColumnDataSource

        load_bokeh()
        self.result = None
        self.preset = W.Dropdown(options=list(PRESETS), description="preset")
        self.backend = W.Dropdown(options=BACKENDS, value="sequential", description="joblib")
        self.n_jobs = W.BoundedIntText(value=1, min=-1, max=256, description="jobs", layout=W.Layout(width="150px"))
        self.engine = W.Text(value="", placeholder="tcp://scheduler:8786, ray://head:10001 or auto",
                             description="engine", tooltip="a Dask scheduler or a Ray cluster; empty: joblib here")
        self.connected = W.HTML()
        self.run = W.Button(description="run sweep", button_style="primary", icon="play")
        self.size = W.Dropdown(description="samples")
        self.rr_max = W.FloatText(value=0.01, step=0.005, description="RR ≤", layout=W.Layout(width="160px"),
                                  tooltip="redundancy at most this is 'no collisions'")
        self.acc_margin = W.FloatText(value=0.005, step=0.005, description="acc. margin",
                                      layout=W.Layout(width="180px"), tooltip="within this of the best: saturated")
        self.progress = JobBar("sweep")  # a sweep trains its own models for minutes: off the kernel's thread
        self.note = W.HTML(
            "Regimes (explorer's own thresholds; the paper gives none): <b>U</b>nder-expressive where the test "
            "redundancy ratio exceeds <i>RR</i>; <b>S</b>ufficiently-expressive where it does not and k-NN "
            "accuracy is within the margin of the grid's best; <b>C</b>ritically-expressive otherwise.")
        error = ErrorLine()
        cols = ("width", "epoch", "value", "letter", "regime", "ink")
        self.sources = [ColumnDataSource({c: [] for c in cols}) for _ in range(2)]
        self.figs = [_heatmap("test redundancy ratio", self.sources[0], "Magma256", 0, 1),
                     _heatmap("9-NN accuracy on codes", self.sources[1], "Viridis256", 0, 1)]
        self.export = Export("phase-chart", self._exports)
        self.run.on_click(self.compute)
        for w in (self.size, self.rr_max, self.acc_margin):
            w.observe(self._draw, names="value")
        super().__init__(state or LabState(session), error,
                         [W.HBox([self.preset, self.backend, self.n_jobs, self.run]),
                          W.HBox([self.engine, self.connected]), self.progress, error,
                          W.HBox([self.size, self.rr_max, self.acc_margin]), self.note,
                          W.HBox([view(f) for f in self.figs]), self.export], self.progress)
        self.add_class("explorer-phase")

    @guarded
    def compute(self, button=None) -> None:
        """Run the chosen preset's sweep on the session's data (a job: stored, on a thread in a kernel), then draw."""
        engine = self.engine.value.strip() or None
        if engine is not None:  # say what it is connected to (a clear error when it cannot be reached)
            from ...engines import engine_info

            info = engine_info(engine)
            self.connected.value = (f"connected to {text(info['engine'])} at {text(info.get('address'))}: "
                                    f"{text(info.get('workers'))} workers")
        job = lab.sweep_job(self.session, PRESETS[self.preset.value], self.preset.value, self.backend.value,
                            self.n_jobs.value, engine)
        self.run.disabled = True
        self.submit(job, self._show, failed=self._failed)

    def _failed(self, err) -> None:
        self.run.disabled = False
        self.error.show(err)
        if getattr(err, "partial", None) is not None:  # a lost worker: the cells that finished are still drawn
            self.result = err.partial
            self._offer_sizes()

    def current(self) -> bool:
        """A sweep trains models of its own: the session's weights never make it old."""
        return True

    def _show(self, result: dict) -> None:
        """A finished sweep: offer its sample sizes and draw."""
        self.run.disabled = False
        self.result = result
        self._offer_sizes()

    def _offer_sizes(self) -> None:
        sizes = self.result["sizes"]
        self.size.options = [(str(n), i) for i, n in enumerate(sizes)]  # draws the first size
        self.size.value = len(sizes) - 1  # all the data by default
        self._draw()

    @guarded
    def _draw(self, change=None) -> None:
        """Cells of the chosen sample size, with regimes from the current thresholds (no recomputation)."""
        if self.result is None or self.size.value is None:
            return
        r, j = self.result, self.size.value
        rr, acc = r["redundancy ratio"][:, :, j], r["k-NN"][:, :, j]
        reg = regimes(rr, acc, self.rr_max.value, self.acc_margin.value)
        w, e = np.meshgrid([str(x) for x in r["widths"]], [str(x) for x in r["epochs"]], indexing="ij")
        for fig, source, values in zip(self.figs, self.sources, (rr, acc), strict=True):
            fig.x_range.factors = [str(x) for x in r["widths"]]
            fig.y_range.factors = [str(x) for x in r["epochs"]]
            source.data = {"width": w.ravel().tolist(), "epoch": e.ravel().tolist(),
                           "value": values.ravel().tolist(), "regime": reg.ravel().tolist(),
                           "letter": [SHORT[x] for x in reg.ravel()],
                           "ink": ["black" if v > 0.6 else "white" for v in values.ravel().tolist()]}

    def _exports(self) -> dict:
        """Both heat maps as HTML; the whole sweep as CSV (one row per width, epoch and sample size)."""
        if self.result is None:
            return {}
        r = self.result
        rows = [{"width": w, "epochs": e, "samples": n, "redundancy ratio": float(r["redundancy ratio"][i, j, k]),
                 "k-NN": float(r["k-NN"][i, j, k])}
                for i, w in enumerate(r["widths"]) for j, e in enumerate(r["epochs"]) for k, n in enumerate(r["sizes"])]
        return {"redundancy.html": bokeh_html(self.figs[0], "redundancy ratio"),
                "knn.html": bokeh_html(self.figs[1], "k-NN accuracy"), "sweep.csv": Table(rows).to_csv()}
