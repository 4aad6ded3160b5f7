"""Loss-landscape panel: a 2-D slice as a heat map with a live point, interpolation barriers, Hessian spectrum."""
from __future__ import annotations

import ipywidgets as W

from ...table import Table
from .._common import ErrorLine, Lab, load_bokeh
from ..export import Export, bokeh_html
from .hessian import HessianView
from .layers import LayerHessianView
from .path import PathView
from .point import PointView
from .slice import RESOLUTIONS, SliceView
from .state import LandscapeState

__all__ = ["RESOLUTIONS", "LandscapePanel"]


class LandscapePanel(Lab):
    """Slices of the loss through the weights (preview, then refined), a live point, barriers and the spectrum."""

    def __init__(self, session, n_eval: int = 512, n_shown: int = 8, seed: int = 0):
        load_bokeh()  # before any view
        self.session, self.error = session, ErrorLine()
        self.state = LandscapeState(session)
        self.slices = SliceView(self.state, self.error, n_eval, seed)
        self.live = PointView(self.state, self.error, n_eval, n_shown)
        self.path = PathView(self.state, self.error, n_eval)
        self.hessian = HessianView(self.state, self.error, seed)
        self.layers = LayerHessianView(self.state, self.error, seed)
        self.figures = {**self.slices.figures, "interpolation": self.path.figure,
                        "hessian-density": self.hessian.figure, "layer-hessian": self.layers.figure,
                        "layer-trace": self.layers.trace_figure}
        self.export = Export("landscape", self._exports)
        tabs = W.Tab([W.VBox([self.slices, self.live]), self.path, self.hessian, self.layers])
        for i, t in enumerate(("slice", "interpolation", "Hessian", "per layer")):
            tabs.set_title(i, t)
        super().__init__([self.error, tabs, self.export])
        self.add_class("explorer-landscape")

    def _exports(self) -> dict:
        """Plots as HTML and their numbers as CSV, for what has been computed."""
        out = {f"{k}.html": bokeh_html(f, k) for k, f in self.figures.items()}
        surf = self.slices.surface_
        if surf is not None:
            betas = surf.betas if surf.betas is not None else [None]
            out["slice.csv"] = Table({"alpha": float(a), "beta": None if b is None else float(b),
                                      "loss": float(surf.loss[i] if b is None else surf.loss[i, j]),
                                      "accuracy": float(surf.accuracy[i] if b is None else surf.accuracy[i, j])}
                                     for i, a in enumerate(surf.alphas) for j, b in enumerate(betas)).to_csv()
        if (p := self.path.path_) is not None:
            out["interpolation.csv"] = Table({"alpha": float(a), "loss": float(f), "accuracy": float(c)}
                                             for a, f, c in zip(p.alphas, p.loss, p.accuracy, strict=True)).to_csv()
        if (r := self.hessian.spectrum_) is not None:
            out["hessian.csv"] = Table([{"quantity": f"eigenvalue {i + 1}", "value": float(v)}
                                        for i, v in enumerate(r["top"])]
                                       + [{"quantity": "trace", "value": float(r["trace"])}]).to_csv()
        if (r := self.layers.result_) is not None:
            out["layer-hessian.csv"] = layer_table(r).to_csv()
        return out


def layer_table(result: dict) -> Table:
    """The per-layer view's result as rows: per model and group, λ_max (and the trace with its SE for parameters)."""
    first = next(iter(result.values()), None)
    if first and isinstance(first[0], float):  # w.r.t. activations: {layer: [λ_max]}
        return Table({"layer": k, "top eigenvalue": float(v[0])} for k, v in result.items())
    return Table({"model": m, "group": g.group, "parameters": g.dim, "top eigenvalue": float(g.top[0]),
                  "trace": float(g.trace), "trace SE": float(g.trace_se)} for m, gs in result.items() for g in gs)
