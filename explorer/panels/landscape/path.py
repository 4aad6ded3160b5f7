"""The interpolation view: loss and error on the line between two models, both barrier definitions (a job)."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...landscape import lab
from .._common import guarded
from .._jobbar import JobBar
from .._view import View
from .figures import figure, view


class PathView(View):
    """Between checkpoints of the trajectory or the current model; weight matching first if asked. The endpoint
    menus follow the session's checkpoints (a new training brings new ones)."""

    again = "press <b>interpolate</b>"
    press = "interpolate"

    def __init__(self, state, error, n_eval: int = 512):
        from bokeh.models import ColumnDataSource

        self.n_eval = n_eval
        self.end_a, self.end_b = W.Dropdown(description="from"), W.Dropdown(description="to")
        wide = lambda: dict(layout=W.Layout(width="auto"), indent=False)  # noqa: E731 - the default cuts labels
        self.path_bn = W.Checkbox(value=False, description="recompute BatchNorm along the path", **wide())
        self.align = W.Checkbox(value=False, description="align hidden units first (weight matching: MLPs, plain CNNs)",
                                **wide())
        self.interp = W.Button(description="interpolate", layout=W.Layout(width="auto"))
        self.path_progress = JobBar("interpolation")
        self.path_source = ColumnDataSource({"x": [], "loss": [], "error": []})
        self.figure = figure("θ(α) = (1 − α) θ_A + α θ_B", "α", "loss / error")
        self.figure.line("x", "loss", source=self.path_source, line_width=2, legend_label="loss")
        self.figure.line("x", "error", source=self.path_source, line_width=2, color="orange", legend_label="error")
        self.barrier = W.HTML()
        self.path_ = None
        self.interp.on_click(self.interpolate)
        super().__init__(state, error, [W.HBox([self.end_a, self.end_b]), W.HBox([self.path_bn, self.align]),
                                        self.interp, self.path_progress, view(self.figure), self.barrier],
                         self.path_progress)
        self.endpoints()

    def endpoints(self) -> None:
        """Checkpoints of the trajectory and the current model; default: init -> current (kept when still there)."""
        names = list(lab.endpoints(self.session.history, self.session.model))
        if names == list(self.end_a.options):
            return
        a, b = self.end_a.value, self.end_b.value
        self.end_a.options, self.end_b.options = names, names
        self.end_a.value = a if a in names else names[0]
        self.end_b.value = b if b in names else names[-1]

    def weights_changed(self) -> None:
        """New weights (maybe a new training): the endpoint menus first, then the drawn path is marked old."""
        self.endpoints()
        super().weights_changed()

    @guarded
    def interpolate(self, _=None) -> None:
        """The path as a job on a copy of the model."""
        s = self.session
        self.endpoints()  # trained since: new checkpoints
        a, b = self.end_a.value, self.end_b.value
        job = lab.path_job(s, a, b, self.path_bn.value, self.align.value, self.n_eval)
        self.submit(job, lambda path: self._show(path, a, b))

    def _show(self, path, a, b) -> None:
        self.path_ = path
        self.path_source.data = {"x": path.alphas, "loss": path.loss, "error": 1 - path.accuracy}
        r = path.barriers()
        sampled = self.session.data.describe_sample("test", self.n_eval)
        self.barrier.value = (f"barrier {text(a)} → {text(b)} on {sampled}: loss Frankle {r['frankle_loss']:.4f}"
                              f", Entezari {r['entezari_loss']:.4f}; error Frankle {r['frankle_error']:.2%}, "
                              f"Entezari {r['entezari_error']:.2%}")
