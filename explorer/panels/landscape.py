"""Loss-landscape panel: a 2-D slice as a heat map with a live point, interpolation barriers, Hessian spectrum."""
from __future__ import annotations

import copy
import dataclasses

import ipywidgets as W
import numpy as np

from ..data import to_uint8
from ..landscape import BN_POLICIES, NORMS, axis, interpolate, lab, slice_grid, weight_matching
from ..table import Table
from ._common import ErrorLine, Progress, Worker, debounce, display_scale, guarded, load_bokeh, png
from .export import Export, bokeh_html

RESOLUTIONS = (7, 11, 15, 21, 31, 41, 51)
PATH_ALPHAS = np.linspace(-0.25, 1.25, 49)  # steps of 1/32: 0 and 1 exact, 33 points on [0, 1]


def _figure(title, x_label, y_label, **kw):
    """A small bokeh figure (bokeh imported only when a panel is built)."""
    from bokeh.plotting import figure
    return figure(title=title, width=380, height=300, x_axis_label=x_label, y_axis_label=y_label,
                  toolbar_location=None, **kw)


def _view(fig):
    """A bokeh figure as a widget (BokehJS loaded by the panel, INLINE: works offline)."""
    from jupyter_bokeh import BokehModel
    return BokehModel(fig)


class LandscapePanel(W.VBox):
    """Slices of the loss through the weights (preview, then refined), a live point, barriers and the spectrum."""

    def __init__(self, session, n_eval: int = 512, n_shown: int = 8, seed: int = 0):
        from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper, Span

        load_bokeh()  # before any view

        self.session, self.n_eval, self.n_shown, self.seed = session, n_eval, n_shown, seed
        self.surface_ = self.axes_ = None
        self.worker = Worker()  # slices take seconds to minutes: off the kernel's thread, the newest wins
        self.kind = W.Dropdown(options=lab.AXES, value="random", description="axes")
        self.norm = W.Dropdown(options=NORMS, value="filter", description="normalise")
        self.span = W.FloatText(value=1.0, step=0.1, description="range ±")
        self.resolution = W.Dropdown(options=RESOLUTIONS, value=21, description="points")
        self.bn = W.Dropdown(options=BN_POLICIES, value="keep", description="BatchNorm")
        self.quantity = W.ToggleButtons(options=["loss", "accuracy"], value="loss")
        self.compute = W.Button(description="compute slice", button_style="primary")
        self.progress = Progress("slice")
        self.alpha = W.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.02, description="α")
        self.beta = W.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.02, description="β")
        self.readout = W.HTML()
        self.error = ErrorLine()
        self.mapper = LinearColorMapper(palette="Viridis256", nan_color=(0, 0, 0, 0))  # NaN/inf: a gap
        self.map_source = ColumnDataSource({"image": [np.full((1, 1), np.nan)], "x": [-1.0], "y": [-1.0],
                                            "dw": [2.0], "dh": [2.0]})
        self.marker = ColumnDataSource({"x": [0.0], "y": [0.0]})
        fig = _figure("slice: f(α, β)", "α", "β", match_aspect=True)
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.map_source, color_mapper=self.mapper)
        self.trajectory = ColumnDataSource({"x": [], "y": []})  # checkpoints projected on PCA axes (Li et al.)
        fig.line("x", "y", source=self.trajectory, color="white", line_width=2)
        fig.scatter("x", "y", source=self.marker, marker="x", size=14, line_width=3, color="red")
        fig.add_layout(ColorBar(color_mapper=self.mapper, width=10), "right")
        fig.min_border_right = 40  # room for the colour bar's labels
        self.curve = ColumnDataSource({"x": [], "y": []})
        self.curve_at = Span(location=0.0, dimension="height", line_color="red")
        cfig = _figure("1-D: f(α) at the nearest β row", "α", "value")
        cfig.line("x", "y", source=self.curve, line_width=2)
        cfig.add_layout(self.curve_at)
        data = session.data
        shown = to_uint8(data.images("test")[:n_shown])
        scale = display_scale(shown.shape[1], 56)
        self.captions = [W.HTML() for _ in shown]
        gallery = W.HBox([W.VBox([W.Image(value=png(im, scale), format="png"), c])
                          for im, c in zip(shown, self.captions, strict=True)])
        # interpolation between two models of the trajectory
        self.end_a, self.end_b = W.Dropdown(description="from"), W.Dropdown(description="to")
        wide = dict(layout=W.Layout(width="auto"), indent=False)  # the default width cuts long labels
        self.path_bn = W.Checkbox(value=False, description="recompute BatchNorm along the path", **wide)
        self.align = W.Checkbox(value=False, description="align hidden units first (weight matching: MLPs, plain CNNs)",
                                **wide)
        self.interp = W.Button(description="interpolate")
        self.path_source = ColumnDataSource({"x": [], "loss": [], "error": []})
        pfig = _figure("θ(α) = (1 − α) θ_A + α θ_B", "α", "loss / error")
        pfig.line("x", "loss", source=self.path_source, line_width=2, legend_label="loss")
        pfig.line("x", "error", source=self.path_source, line_width=2, color="orange", legend_label="error")
        self.barrier = W.HTML()
        # Hessian spectrum
        self.top_k = W.BoundedIntText(value=3, min=1, max=10, description="top k")
        self.hess = W.Button(description="Hessian spectrum")
        self.hess_progress = Progress("Hessian")
        self.density_source = ColumnDataSource({"x": [], "y": []})
        hfig = _figure("eigenvalue density (SLQ)", "eigenvalue", "density", y_axis_type="log")
        hfig.line("x", "y", source=self.density_source, line_width=2)
        self.spectrum = W.HTML()
        self.path_ = self.spectrum_ = None
        self.figures = {"slice": fig, "slice-1d": cfig, "interpolation": pfig, "hessian-density": hfig}
        self.export = Export("landscape", self._exports)
        self.compute.on_click(self._recompute)
        self.interp.on_click(self._interpolate)
        self.hess.on_click(self._spectrum)
        for w in (self.alpha, self.beta):
            w.observe(self._moved, names="value")
        self.quantity.observe(self._redraw, names="value")
        tabs = W.Tab([
            W.VBox([W.HBox([self.kind, self.norm, self.bn]), W.HBox([self.span, self.resolution, self.compute]),
                    self.progress, W.HBox([_view(fig), _view(cfig)]), self.quantity,
                    W.HBox([self.alpha, self.beta]), self.readout, gallery]),
            W.VBox([W.HBox([self.end_a, self.end_b]), W.HBox([self.path_bn, self.align]), self.interp, _view(pfig),
                    self.barrier]),
            W.VBox([W.HBox([self.top_k, self.hess]), self.hess_progress, self.spectrum, _view(hfig)])])
        for i, t in enumerate(("slice", "interpolation", "Hessian")):
            tabs.set_title(i, t)
        super().__init__([self.error, tabs, self.export])
        self.add_class("explorer-landscape")
        self._endpoints()

    def _exports(self) -> dict:
        """Plots as HTML and their numbers as CSV, for what has been computed."""
        out = {f"{k}.html": bokeh_html(f, k) for k, f in self.figures.items()}
        surf = self.surface_
        if surf is not None:
            betas = surf.betas if surf.betas is not None else [None]
            out["slice.csv"] = Table({"alpha": float(a), "beta": None if b is None else float(b),
                                      "loss": float(surf.loss[i] if b is None else surf.loss[i, j]),
                                      "accuracy": float(surf.accuracy[i] if b is None else surf.accuracy[i, j])}
                                     for i, a in enumerate(surf.alphas) for j, b in enumerate(betas)).to_csv()
        if self.path_ is not None:
            p = self.path_
            out["interpolation.csv"] = Table({"alpha": float(a), "loss": float(f), "accuracy": float(c)}
                                             for a, f, c in zip(p.alphas, p.loss, p.accuracy, strict=True)).to_csv()
        if self.spectrum_ is not None:
            r = self.spectrum_
            out["hessian.csv"] = Table([{"quantity": f"eigenvalue {i + 1}", "value": float(v)}
                                        for i, v in enumerate(r["top"])]
                                       + [{"quantity": "trace", "value": float(r["trace"])}]).to_csv()
        return out

    def _eval(self):
        return lab.eval_batch(self.session.data, self.n_eval)

    def _endpoints(self) -> None:
        """Checkpoints of the trajectory and the current model; default: init -> current."""
        names = list(lab.endpoints(self.session.history, self.session.model))
        self.end_a.options, self.end_b.options = names, names
        self.end_a.value, self.end_b.value = names[0], names[-1]

    @guarded
    def _recompute(self, _=None) -> None:
        """Directions, then the slice (memoised): on a worker thread in a kernel, so α and β stay live; the preview
        is drawn first, then refined in place."""
        s, kind, norm, n, bn = self.session, self.kind.value, self.norm.value, self.resolution.value, self.bn.value
        span = float(self.span.value)
        axis(span, n)  # bad range or resolution: a clear error before any work
        key = ("landscape-axes", kind, norm, "zero", self.seed)
        if kind != "random" and not s.known(key):
            self.progress(0, 1, {"computing": f"{kind} axes"})
        axes = s.memo(key, lambda: lab.axes(s.model, s.data, s.history, kind, norm, "zero", self.seed))
        bn_x = s.data.inputs("train")[:256] if bn == "recompute" else None

        def start():
            # the thread gets its own copy: functional_call swaps a module's tensors while it runs, and the user's
            # model must stay usable here (the live point, the other labs)
            twin, (x, y), generation = copy.deepcopy(s.model), self._eval(), self.worker.generation + 1
            # until the preview arrives: a blank map (never the old slice under the new axes), the point on them
            self.surface_, self.axes_ = None, axes
            self.map_source.data = {"image": [np.full((1, 1), np.nan)], "x": [-span], "y": [-span],
                                    "dw": [2 * span], "dh": [2 * span]}
            self.curve.data = {"x": [], "y": []}
            self.progress(0, n * n)

            def stream(done, total, surf):  # on the thread: a snapshot, drawn on the kernel's loop if still current
                snap = dataclasses.replace(surf, loss=surf.loss.copy(), accuracy=surf.accuracy.copy(),
                                           done=surf.done.copy())
                self.worker.call(self._stream, generation, done, total, snap, axes)
            return lambda: slice_grid(twin, x, y, *axes, span=span, n=n, bn=bn, bn_x=bn_x, callback=stream)
        self.worker.cached(s, ("landscape-slice", kind, norm, self.seed, span, n, bn, self.n_eval), start,
                           lambda surf: self._show_slice(surf, axes, kind, span), self.error.show)

    def _stream(self, generation, done, total, surf, axes) -> None:
        if generation != self.worker.generation:
            return  # a part of a superseded slice
        self.progress(done, total)
        self.surface_, self.axes_ = surf, axes
        self._redraw()

    @guarded
    def _show_slice(self, surf, axes, kind, span) -> None:
        """A finished (or stored) slice: map, trajectory, slider ranges, and the point under the sliders."""
        s = self.session
        self.surface_, self.axes_ = surf, axes
        self.progress(int(surf.done.sum()), surf.done.size)
        xy = lab.project(s.model, s.history.checkpoints, *axes) if kind == "pca" else np.zeros((0, 2))
        self.trajectory.data = {"x": xy[:, 0], "y": xy[:, 1]}
        for w in (self.alpha, self.beta):
            w.min, w.max, w.step = -span, span, span / 50
        self._redraw()
        self._point()

    @guarded
    def _redraw(self, _=None) -> None:
        """Map and curve from the stored surface (numpy only)."""
        surf = self.surface_
        if surf is None:
            return
        img = surf.filled(self.quantity.value)
        lo, hi = surf.alphas[0], surf.alphas[-1]
        self.map_source.data = {"image": [np.ascontiguousarray(img.T)], "x": [lo], "y": [lo], "dw": [hi - lo],
                                "dh": [hi - lo]}  # image rows are β
        finite = img[np.isfinite(img)]
        if len(finite):
            self.mapper.low, self.mapper.high = float(finite.min()), float(finite.max())
        j = int(np.abs(surf.betas - self.beta.value).argmin())
        self.curve.data = {"x": surf.alphas, "y": img[:, j]}

    @guarded
    def _moved(self, change=None) -> None:
        """Marker and curve cursor at once; the point's evaluation debounced."""
        self.marker.data = {"x": [self.alpha.value], "y": [self.beta.value]}
        self.curve_at.location = self.alpha.value
        self._point()

    @debounce(0.15)
    @guarded
    def _point(self) -> None:
        """The perturbed model at (α, β): loss, accuracy and predictions, by a functional forward."""
        if self.axes_ is None:
            return
        a, b = self.alpha.value, self.beta.value
        data = self.session.data
        r = lab.at_point(self.session.model, *self.axes_, a, b, *self._eval(), data.inputs("test")[:self.n_shown])
        self.readout.value = (f"at α={a:+.3f}, β={b:+.3f}: <b>loss {r['loss']:.4f}</b>, accuracy "
                              f"{r['accuracy']:.1%} on {self.n_eval} test inputs")
        truth = data.labels("test")[:self.n_shown]
        for cap, p, c, t in zip(self.captions, r["predictions"], r["confidence"], truth, strict=True):
            colour = "#1b7f3a" if p == int(t) else "#b00020"
            cap.value = f"<span style='color:{colour}'>{data.classes[p]} {c:.2f}</span>"
        self._redraw()

    @guarded
    def _interpolate(self, _=None) -> None:
        """Loss and error along the line between two models; both barrier definitions."""
        s, a, b, bn, align = self.session, self.end_a.value, self.end_b.value, self.path_bn.value, self.align.value
        ends = lab.endpoints(s.history, s.model)
        if list(ends) != list(self.end_a.options):  # trained since the panel was built: new checkpoints
            self._endpoints()
            a, b = self.end_a.value, self.end_b.value
        bn_x = s.data.inputs("train")[:256] if bn else None

        def compute():
            target = weight_matching(s.model, ends[a], ends[b], check_x=self._eval()[0])[0] if align else ends[b]
            return interpolate(s.model, ends[a], target, *self._eval(), alphas=PATH_ALPHAS, bn_x=bn_x,
                               callback=lambda d, t, _: self.progress(d, t))
        path = s.memo(("landscape-path", a, b, bn, align, self.n_eval), compute)
        self.path_ = path
        self.path_source.data = {"x": path.alphas, "loss": path.loss, "error": 1 - path.accuracy}
        r = path.barriers()
        self.barrier.value = (f"barrier {a} → {b} on {self.n_eval} test inputs: loss Frankle {r['frankle_loss']:.4f}"
                              f", Entezari {r['entezari_loss']:.4f}; error Frankle {r['frankle_error']:.2%}, "
                              f"Entezari {r['entezari_error']:.2%}")

    @guarded
    def _spectrum(self, _=None) -> None:
        """Top-k eigenvalues, trace and density of the Hessian on 256 training inputs."""
        s, k = self.session, self.top_k.value
        r = s.memo(("landscape-hessian", k, self.seed),
                   lambda: lab.spectrum(s.model, *lab.eval_batch(s.data, 256, "train"), k=k, seed=self.seed,
                                        progress=self.hess_progress))
        self.spectrum_ = r
        self.density_source.data = {"x": r["grid"], "y": np.maximum(r["density"], 1e-8)}
        self.spectrum.value = (f"top {k} eigenvalues: {', '.join(f'{v:.4g}' for v in r['top'])}; trace "
                               f"{r['trace']:.4g} (Hutchinson, {r['trace_samples']} samples, sd "
                               f"{r['trace_std']:.3g}); on {r['n']} training inputs")
