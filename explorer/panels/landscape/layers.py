"""The per-layer Hessian view: each parameter group's top eigenvalue and trace (with its error bar) over depth, on
the current model or at every training checkpoint; or the top eigenvalue of the Hessian w.r.t. each layer's output."""
from __future__ import annotations

import ipywidgets as W

from ...landscape import lab, parameter_groups
from .._common import guarded
from .._jobbar import JobBar
from .._view import View
from .figures import figure, view

WRT = ("parameters", "activations")


def _palette(n: int) -> list[str]:
    """n colours from early (light) to late (dark) training; one model: the lab's blue."""
    from bokeh.palettes import Viridis256

    return ["#1f77b4"] if n == 1 else [Viridis256[int(200 * (n - 1 - i) / (n - 1))] for i in range(n)]


class LayerHessianView(View):
    """PyHessian's spectrum per block (its #9, #10) and w.r.t. activations (#13), on 256 training inputs; the
    trace is Hutchinson's with ±2 standard errors drawn as whiskers. Over training: one curve per checkpoint."""

    again = "press <b>per-layer Hessian</b>"
    press = "compute"

    def __init__(self, state, error, seed: int = 0, n: int = 256):
        from bokeh.models import ColumnDataSource, FixedTicker, Whisker

        self.seed, self.n = seed, n
        self.by = W.Dropdown(options=[("each layer", "layer"), ("each block", "block")], value="layer",
                             description="groups")
        self.wrt = W.ToggleButtons(options=WRT, value="parameters", description="w.r.t.",
                                   style={"button_width": "100px"})
        self.over = W.Checkbox(value=False, description="at every training checkpoint", indent=False,
                               layout=W.Layout(width="auto"))
        self.go = W.Button(description="per-layer Hessian", layout=W.Layout(width="auto", flex="0 0 auto"))
        self.bar = JobBar("Hessians")
        self.lines = ColumnDataSource({"xs": [], "ys": [], "color": [], "label": []})
        self.traces = ColumnDataSource({"x": [], "trace": [], "lower": [], "upper": [], "color": []})
        self.figure = figure("top Hessian eigenvalue per group", "group (input → output)", "λ_max", width=450)
        self.figure.multi_line("xs", "ys", source=self.lines, color="color", legend_field="label", line_width=2)
        self.figure.legend.location = "top_left"  # the last groups (the head) are often the sharpest
        self.trace_figure = figure("trace per group (±2 SE)", "group (input → output)", "trace", width=450)
        self.trace_figure.scatter("x", "trace", source=self.traces, color="color", size=6)
        self.trace_figure.add_layout(Whisker(source=self.traces, base="x", lower="lower", upper="upper"))
        for end in ("lower", "upper"):  # unseen points: the y range follows the whiskers (annotations do not move it)
            self.trace_figure.scatter("x", end, source=self.traces, alpha=0)
        for f in (self.figure, self.trace_figure):
            f.xaxis.ticker, f.xaxis.major_label_orientation = FixedTicker(ticks=[]), 0.9
        self.summary = W.HTML()
        self.result_ = None
        self.go.on_click(self.compute)
        self.wrt.observe(lambda _: setattr(self.over, "disabled", self.wrt.value == "activations"), "value")
        super().__init__(state, error, [W.HBox([self.by, self.wrt]), W.HBox([self.over, self.go]), self.bar,
                                        self.summary,
                                        W.HBox([view(self.figure), view(self.trace_figure)])], self.bar)

    @guarded
    def compute(self, _=None) -> None:
        """One job: the groups' spectra (at each checkpoint if asked) or the activation Hessians' top eigenvalues."""
        s, by = self.session_now(), self.by.value
        names = parameter_groups(s.model, by)
        if self.wrt.value == "activations":
            job = lab.activation_spectra_job(s, names, k=1, n=self.n, seed=self.seed)
            self.submit(job, lambda r: self._show_activations(r, names))
        elif self.over.value and s.history.checkpoints:
            job = lab.layer_spectra_training_job(s, names, n=self.n, seed=self.seed)
            self.submit(job, lambda r: self._show(r, names))
        else:
            job = lab.layer_spectra_job(s, names, n=self.n, seed=self.seed)
            self.submit(job, lambda r: self._show({"current model": r}, names))

    def _axes(self, names) -> None:
        for f in (self.figure, self.trace_figure):
            f.xaxis.ticker.ticks = list(range(len(names)))
            f.xaxis.major_label_overrides = {i: n for i, n in enumerate(names)}
            f.x_range.start, f.x_range.end = -0.5, len(names) - 0.5  # the end groups' points inside the frame

    def _show(self, spectra: dict, names) -> None:
        """{label: [GroupSpectrum]}: one curve per model, the traces with whiskers."""
        self.result_ = spectra
        self._axes(names)
        colours = _palette(len(spectra))
        xs = [float(i) for i in range(len(names))]
        self.lines.data = {"xs": [xs] * len(spectra), "color": colours, "label": list(spectra),
                           "ys": [[float(g.top[0]) for g in groups] for groups in spectra.values()]}
        rows = [(float(i), g.trace, 2 * g.trace_se, c) for (groups, c) in zip(spectra.values(), colours)
                for i, g in enumerate(groups)]
        self.traces.data = {"x": [r[0] for r in rows], "trace": [float(r[1]) for r in rows],
                            "lower": [float(r[1] - r[2]) for r in rows], "upper": [float(r[1] + r[2]) for r in rows],
                            "color": [r[3] for r in rows]}
        last = spectra[list(spectra)[-1]]
        top = max(last, key=lambda g: abs(g.top[0]))
        self.summary.value = (f"{len(names)} groups, {len(spectra)} model(s), on "
                              f"{self.session_now().data.describe_sample('train', self.n)}; the sharpest group now: "
                              f"<b>{top.group}</b> (λ_max {top.top[0]:.4g}, trace {top.trace:.4g} ± "
                              f"{2 * top.trace_se:.2g})")

    def _show_activations(self, tops: dict, names) -> None:
        """{layer: [λ_max]} of the loss's Hessian w.r.t. each layer's output; no trace."""
        self.result_ = tops
        self._axes(names)
        self.lines.data = {"xs": [[float(i) for i in range(len(names))]], "color": ["#d62728"],
                           "ys": [[float(tops[n][0]) for n in names]], "label": ["w.r.t. activations"]}
        self.traces.data = {"x": [], "trace": [], "lower": [], "upper": [], "color": []}
        self.summary.value = (f"the loss's Hessian w.r.t. each group's output, {len(names)} layers, on "
                              f"{self.session_now().data.describe_sample('train', self.n)}")
