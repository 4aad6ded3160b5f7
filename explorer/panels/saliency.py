"""Saliency panel: pick an image, a method, a layer and a class; see the map overlaid, compare methods, rank them."""
from __future__ import annotations

import html
import inspect

import ipywidgets as W
import numpy as np

from ..capture import find_layers
from ..data import to_uint8
from ..saliency import COLORMAPS, METHODS, Explainer, KeptForwards, diff_roar, make_method, overlay, rank_methods
from ..saliency.cfcam import FILTERS
from ..saliency.eigencam import SIGNS
from ..saliency.normgrad import FORMS
from ..saliency.smoothgradcampp import NUMERATORS
from ..table import Table
from ._common import ErrorLine, Progress, display_scale, guarded, png
from .export import Export

PARAMS = ("noise_level", "samples", "steps")  # the methods' own knobs the panel offers
# each method's one string option: (constructor argument, choices)
VARIANTS = {"NormGrad": ("form", FORMS), "CF-CAM": ("filter", FILTERS), "Eigen-CAM": ("sign", SIGNS),
            "Smooth Grad-CAM++": ("numerator", NUMERATORS)}


class SaliencyPanel(W.VBox):
    """Two speeds: a change of image, method, layer, class or parameter recomputes (memoised, one forward at
    most, none for a class switch); alpha and colormap only redraw."""

    def __init__(self, session, split: str = "test", gallery: int = 8):
        self.session, self.split, self.n_gallery = session, split, gallery
        data = session.data
        self.images = to_uint8(data.images(split))
        self.scale = display_scale(self.images.shape[1], 192)
        self.computes = 0  # maps computed (not from the memo): for tests and curiosity
        self._explainers: dict = {}
        self._kept = KeptForwards(size=4)  # shared: a method switch on one layer and image reuses the forward
        self.cam_ = None
        layers = find_layers(session.model, "conv")
        # without a conv layer only the input-gradient methods apply (an MLP): offer just those
        names = [n for n, c in METHODS.items() if layers or not c.needs_layer]
        slow = dict(continuous_update=False)
        self.index = W.IntSlider(0, 0, len(self.images) - 1, description="image", **slow)
        self.method = W.Dropdown(options=names, value=names[0], description="method")
        self.layer = W.Dropdown(options=layers, value=layers[-1] if layers else None, description="layer")
        self.combine = W.SelectMultiple(  # several layers: mean of normalised maps (NormGrad: their product)
            options=layers, value=(), description="+ layers", rows=max(1, min(3, len(layers))),
            tooltip="combine the layer with these")
        self.target = W.Dropdown(options=["predicted", "true", "class"], value="predicted", description="target")
        self.klass = W.IntText(0, description="class", layout=W.Layout(width="160px"))
        self.alpha = W.FloatSlider(0.5, min=0, max=1, step=0.05, description="alpha")
        self.cmap = W.Dropdown(options=list(COLORMAPS), value="jet", description="colormap")
        self.noise_level = W.FloatSlider(0.1, min=0, max=1, step=0.05, description="noise", **slow)
        self.samples = W.IntSlider(8, min=1, max=50, description="samples", **slow)
        self.steps = W.IntSlider(32, min=1, max=128, description="steps", **slow)
        self.variant = W.Dropdown(options=[""], value="", description="variant")
        self.image = W.Image(format="png")
        self.caption = W.HTML()
        self.thumbs = W.HBox()
        self.compare_methods = W.SelectMultiple(options=names, value=tuple(names[:3]), description="compare", rows=5)
        self.compare_image = W.Image(format="png")
        self.compare_caption = W.HTML()
        self.compare_rows = W.IntSlider(3, min=1, max=6, description="images", continuous_update=False,
                                        tooltip="rows: the current image and the next ones")
        self.evaluate_button = W.Button(description="Rank methods", icon="list-ol")
        self.eval_n = W.IntSlider(32, min=4, max=256, description="images", **slow)
        self.progress = Progress("ranking")
        self.table = W.HTML()
        self.roar_button = W.Button(description="DiffROAR", icon="refresh",
                                    tooltip="retrain on the top-k vs the bottom-k attributed pixels (slow)")
        self.roar_k = W.FloatSlider(0.2, min=0.05, max=0.95, step=0.05, description="keep k", **slow)
        self.roar_epochs = W.IntSlider(5, min=1, max=30, description="epochs", **slow)
        self.roar_progress = Progress("DiffROAR")
        self.roar = W.HTML()
        self.error = ErrorLine()
        self.rows_: list[dict] = []
        self.export = Export("saliency", lambda: {
            f"{self.method.value}-image{self.index.value}.png": self.image.value,
            "compare.png": self.compare_image.value,
            "ranking.csv": Table(self.rows_).to_csv() if self.rows_ else None})
        for w in (self.index, self.method, self.layer, self.combine, self.target, self.klass, self.noise_level,
                  self.samples,
                  self.steps, self.variant):
            w.observe(self._recompute, names="value")
        for w in (self.alpha, self.cmap):
            w.observe(self._redraw, names="value")
        for w in (self.compare_methods, self.compare_rows):
            w.observe(self._compare, names="value")
        self.evaluate_button.on_click(self.evaluate)
        self.roar_button.on_click(self.diff_roar)
        controls = W.VBox([self.index, self.method, self.layer, self.combine, W.HBox([self.target, self.klass]),
                           self.alpha,
                           self.cmap, self.noise_level, self.samples, self.steps, self.variant])
        super().__init__([self.error, self.thumbs, W.HBox([controls, W.VBox([self.image, self.caption])]),
                          W.HBox([W.VBox([self.compare_methods, self.compare_rows]),
                                  W.VBox([self.compare_caption, self.compare_image])]),
                          W.HBox([self.evaluate_button, self.eval_n]), self.progress, self.table,
                          W.HBox([self.roar_button, self.roar_k, self.roar_epochs]), self.roar_progress, self.roar,
                          self.export])
        self.add_class("explorer-saliency")
        self._recompute()

    # --- slow path: the core, memoised -------------------------------------------------------------------------
    def layers(self):
        """The chosen layer, or it and the layers combined with it (a tuple in the model's order)."""
        extra = [n for n in self.combine.value if n != self.layer.value]
        if not extra:
            return self.layer.value
        order = list(self.layer.options)
        return tuple(sorted({self.layer.value, *extra}, key=order.index))

    def params(self, name: str) -> dict:
        """The panel's knobs that this method's constructor takes."""
        sig = inspect.signature(METHODS[name].__init__).parameters
        out = {p: getattr(self, p).value for p in PARAMS if p in sig}
        if name in VARIANTS and name == self.method.value and self.variant.value in VARIANTS[name][1]:
            out[VARIANTS[name][0]] = self.variant.value  # compared tiles use the defaults
        return out

    def target_class(self, index: int | None = None) -> int:
        """The class to explain for an image (the current one by default), checked against the model's classes."""
        i, data = self.index.value if index is None else index, self.session.data
        if self.target.value == "predicted":
            return int(self.session.evaluate(self.split).predictions[i])
        if self.target.value == "true":
            return int(data.labels(self.split)[i])
        k = self.klass.value
        if not 0 <= k < data.n_classes:
            raise ValueError(f"class {k} out of range: choose 0..{data.n_classes - 1}")
        return k

    def cam(self, name: str, index: int, target: int) -> np.ndarray:
        """(H, W) map in [0, 1] for one image, memoised by everything that determines it."""
        layer = self.layers() if METHODS[name].needs_layer else None
        params = self.params(name)
        key = ("saliency", name, layer, tuple(sorted(params.items())), self.split, index, target)

        def compute():
            self.computes += 1
            ex_key = (name, layer, tuple(sorted(params.items())))
            if ex_key not in self._explainers:  # one Explainer per configuration, all sharing the kept forwards
                self._explainers[ex_key] = Explainer(self.session.model, make_method(name, layer, **params),
                                                     self._kept)
                while len(self._explainers) > 16:  # the graphs' memory is bounded by the kept forwards
                    self._explainers.pop(next(iter(self._explainers)))
            x = self.session.data.inputs(self.split)[index:index + 1]
            return self._explainers[ex_key](x, [target])[0].cpu().numpy()
        return self.session.memo(key, compute)

    @guarded
    def _recompute(self, change=None) -> None:
        """New image, method, layer, class or parameter: fetch the map (memo or one compute) and redraw."""
        self.layer.disabled = self.combine.disabled = not METHODS[self.method.value].needs_layer
        self.klass.disabled = self.target.value != "class"
        sig = inspect.signature(METHODS[self.method.value].__init__).parameters
        for p in PARAMS:
            getattr(self, p).layout.display = "" if p in sig else "none"
        arg, choices = VARIANTS.get(self.method.value, ("", ("",)))
        if tuple(self.variant.options) != tuple(choices):
            with self.variant.hold_trait_notifications():
                self.variant.options, self.variant.description = choices, arg or "variant"
        self.variant.layout.display = "" if arg else "none"
        target = self.target_class()
        self.cam_ = self.cam(self.method.value, self.index.value, target)
        ev, data, i = self.session.evaluate(self.split), self.session.data, self.index.value
        pred = int(ev.predictions[i])
        true = data.classes[int(data.labels(self.split)[i])]
        self.caption.value = (f"image {i}: predicted <b>{html.escape(data.classes[pred])}</b> "
                              f"({float(ev.probabilities[i, pred]):.2f}), true {html.escape(true)}; "
                              f"explaining class <b>{html.escape(data.classes[target])}</b>")
        self._draw()
        self._gallery()
        self._draw_compare()

    # --- fast path: numpy only ---------------------------------------------------------------------------------
    @guarded
    def _redraw(self, change=None) -> None:
        """Alpha or colormap changed: blend again, no model call."""
        self._draw()
        self._draw_compare()

    def _draw(self) -> None:
        if self.cam_ is not None:
            self.image.value = png(overlay(self.images[self.index.value], self.cam_, self.alpha.value,
                                           self.cmap.value), self.scale)

    def _gallery(self) -> None:
        """Thumbnails around the current image, captioned 'prediction (truth)'; a click selects one."""
        ev, data = self.session.evaluate(self.split), self.session.data
        start = max(0, min(self.index.value - self.n_gallery // 2, len(self.images) - self.n_gallery))
        idx = range(start, min(start + self.n_gallery, len(self.images)))
        if [getattr(c, "index", None) for c in self.thumbs.children] == list(idx):
            return
        cells = []
        for i in idx:
            pred, true = int(ev.predictions[i]), int(data.labels(self.split)[i])
            b = W.Button(description=f"{data.classes[pred]} ({data.classes[true]})", layout=W.Layout(width="72px"),
                         button_style="" if pred == true else "danger", tooltip=f"image {i}")
            b.on_click(lambda _, i=i: setattr(self.index, "value", i))
            cell = W.VBox([W.Image(value=png(self.images[i], display_scale(self.images.shape[1], 48))), b])
            cell.index = i
            cells.append(cell)
        self.thumbs.children = cells

    @guarded
    def _compare(self, change=None) -> None:
        """Another selection of methods to compare."""
        self._draw_compare()

    def compare_indices(self) -> list[int]:
        """The grid's rows: the current image and the next ones (wrapping round the split)."""
        n = len(self.images)
        return [(self.index.value + r) % n for r in range(min(self.compare_rows.value, n))]

    def _draw_compare(self) -> None:
        """The selected methods side by side (columns) on the same images (rows), each image's own target class."""
        names = list(self.compare_methods.value)
        if not names:
            self.compare_image.value, self.compare_caption.value = b"", ""
            return
        rows, k = [], display_scale(self.images.shape[1], 128)  # tiles enlarged here, so the gaps stay thin
        for i in self.compare_indices():
            target = self.target_class(i)
            tiles = [overlay(self.images[i], self.cam(n, i, target), self.alpha.value, self.cmap.value)
                     .repeat(k, 0).repeat(k, 1) for n in names]
            gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
            rows.append(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1))
        gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
        grid = np.concatenate([r for row in rows for r in (row, gap)][:-1], axis=0)
        self.compare_image.value = png(grid)
        self.compare_image.width = str(grid.shape[1])  # its own size, not stretched to the caption's width
        self.compare_image.layout.title = " | ".join(names)  # method order, left to right
        self.compare_caption.value = (f"columns: {html.escape(' | '.join(names))}; rows: images "
                                      f"{', '.join(map(str, self.compare_indices()))}, each for its own target class")

    @guarded
    def evaluate(self, button=None) -> None:
        """Rank the compared methods (or all) on the current model: an HTML table."""
        names = list(self.compare_methods.value) or list(self.method.options)
        layer = self.layers()
        rows = rank_methods(self.session, names, n=self.eval_n.value, split=self.split, layers=layer,
                            progress=self.progress)
        self.rows_ = rows
        cols = [c for c in ("rank", "method", "deletion_auc", "insertion_auc", "pointing", "energy", "sensitivity",
                            "seconds") if c in rows[0]]
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{r[c]:.3f}</td>" if isinstance(r[c], float) else
                                         f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in rows)
        self.table.value = (f"<table class='explorer-table'><tr>{head}</tr>{body}</table>"
                            "<small>deletion: lower is better; insertion, pointing, energy: higher; "
                            "sensitivity: lower is more class-sensitive</small>")

    @guarded
    def diff_roar(self, button=None) -> dict:
        """DiffROAR for the current method: the architecture retrained on the top-k and on the bottom-k pixels."""
        name = self.method.value
        layer = self.layers() if METHODS[name].needs_layer else None
        params, k, epochs = self.params(name), self.roar_k.value, self.roar_epochs.value
        s = self.session
        self.roar_button.disabled = True
        try:
            r = s.memo(("saliency-diffroar", name, layer, tuple(sorted(params.items())), k, epochs),
                       lambda: diff_roar(s.model, s.data, make_method(name, layer, **params), k=k, epochs=epochs,
                                         progress=self.roar_progress))
        finally:
            self.roar_button.disabled = False
        self.roar.value = (f"DiffROAR of <b>{html.escape(name)}</b> keeping {k:.0%} of the pixels: retrained on the "
                           f"most attributed {r['top_accuracy']:.1%}, on the least {r['bottom_accuracy']:.1%}, "
                           f"difference <b>{r['diff_roar']:+.3f}</b> (&gt; 0: the map ranks the evidence first; "
                           "a random map gives about 0)")
        return r
