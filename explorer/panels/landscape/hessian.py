"""The Hessian view: top-k eigenvalues, trace and spectral density (SLQ), a job on a copy of the model."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ...landscape import lab
from .._common import guarded
from .._jobbar import JobBar
from .._view import View
from .figures import figure, view


class HessianView(View):
    """On 256 training inputs (stratified by class); its three stages in the progress bar."""

    again = "press <b>Hessian spectrum</b>"
    press = "compute"

    def __init__(self, state, error, seed: int = 0):
        from bokeh.models import ColumnDataSource

        self.seed = seed
        self.top_k = W.BoundedIntText(value=3, min=1, max=10, description="top k")
        self.hess = W.Button(description="Hessian spectrum", layout=W.Layout(width="auto"))
        self.hess_progress = JobBar("Hessian")
        self.density_source = ColumnDataSource({"x": [], "y": []})
        self.figure = figure("eigenvalue density (SLQ)", "eigenvalue", "density", y_axis_type="log")
        self.figure.line("x", "y", source=self.density_source, line_width=2)
        self.spectrum = W.HTML()
        self.spectrum_ = None
        self.hess.on_click(self.compute)
        super().__init__(state, error, [W.HBox([self.top_k, self.hess]), self.hess_progress, self.spectrum,
                                        view(self.figure)], self.hess_progress)

    @guarded
    def compute(self, _=None) -> None:
        """The spectrum job."""
        k = self.top_k.value
        self.submit(lab.spectrum_job(self.session, k, self.seed), lambda r: self._show(r, k))

    def _show(self, r, k) -> None:
        self.spectrum_ = r
        self.density_source.data = {"x": r["grid"], "y": np.maximum(r["density"], 1e-8)}
        self.spectrum.value = (f"top {k} eigenvalues: {', '.join(f'{v:.4g}' for v in r['top'])}; trace "
                               f"{r['trace']:.4g} (Hutchinson, {r['trace_samples']} samples, sd "
                               f"{r['trace_std']:.3g}, standard error {r['trace_se']:.3g}); on "
                               f"{self.session.data.describe_sample('train', r['n'])}")
