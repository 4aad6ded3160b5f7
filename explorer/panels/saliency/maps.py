"""The saliency map view: image, method, layer(s), class and knobs recompute (memoised); alpha and colormap redraw."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import COLORMAPS, METHODS, overlay
from ...saliency.lab import Explainers, cam_layers, default_layer
from .._common import display_scale, fitted_png, guarded, png
from .knobs import KnobForm


def method_options(layers: list[str]) -> list[tuple[str, str]]:
    """The method menu as (label, name) pairs, "family · name", grouped by the classes' family in the registry's
    order of first appearance (a Dropdown has no optgroups); CAMs and methods that need a layer only with a layer."""
    names = [n for n, c in METHODS.items() if layers or c.family != "CAM" and not c.needs_layer]
    first = {}
    for n in names:
        first.setdefault(METHODS[n].family, len(first))
    names.sort(key=lambda n: first[METHODS[n].family])  # stable: the registry's order within a family
    return [(f"{METHODS[n].family} · {n}", n) for n in names]


class MapView(W.VBox):
    """One image's map for one method, layer(s), class and knobs, over the image; thumbnails to pick images."""

    def __init__(self, session, error, split: str = "test", gallery: int = 8):
        self.session, self.error, self.split, self.n_gallery = session, error, split, gallery
        self.images = session.data.display(split)  # the photos the maps are drawn on (display_size), any size
        self.scale = display_scale(self.images.shape[1], 192)
        self.explainers = Explainers(session)
        self.cam_ = None
        self.redrawn = []  # called after each new map (the compare view follows it)
        layers = cam_layers(session)
        slow = dict(continuous_update=False)
        options = method_options(layers)
        self.index = W.IntSlider(0, 0, len(self.images) - 1, description="image", **slow)
        self.method_names = [n for _, n in options]
        self.method = W.Dropdown(options=options, value=options[0][1], description="method")
        self.layer = W.Dropdown(options=layers, value=default_layer(session, layers), description="layer")
        self.combine = W.SelectMultiple(options=layers, value=(), description="+ layers",  # mean of normalised maps
                                        rows=max(1, min(3, len(layers))), tooltip="combine the layer with these")
        self.target = W.Dropdown(options=["predicted", "true", "class"], value="predicted", description="target")
        self.klass = W.IntText(0, description="class", layout=W.Layout(width="160px"))
        self.alpha = W.FloatSlider(0.5, min=0, max=1, step=0.05, description="alpha")
        self.cmap = W.Dropdown(options=list(COLORMAPS), value="jet", description="colormap")
        self.knobs = KnobForm()
        self.image, self.caption = W.Image(format="png"), W.HTML()
        self.thumbs = W.HBox([self._thumb() for _ in range(min(gallery, len(self.images)))])
        for w in (self.index, self.method, self.layer, self.combine, self.target, self.klass):
            w.observe(self.recompute, names="value")
        self.knobs.observe_values(self.recompute)
        for w in (self.alpha, self.cmap):
            w.observe(self.redraw, names="value")
        controls = W.VBox([self.index, self.method, self.layer, self.combine, W.HBox([self.target, self.klass]),
                           self.alpha, self.cmap, self.knobs])
        super().__init__([self.thumbs, W.HBox([controls, W.VBox([self.image, self.caption])])])

    @property
    def computes(self) -> int:
        """Maps computed so far (not taken from the memo)."""
        return self.explainers.computes

    def layers(self):
        """The chosen layer, or it and the layers combined with it (a tuple in the model's order)."""
        extra = [n for n in self.combine.value if n != self.layer.value]
        if not extra:
            return self.layer.value
        order = list(self.layer.options)
        return tuple(sorted({self.layer.value, *extra}, key=order.index))

    def params(self, name: str) -> dict:
        """The knobs of a method: the form's for the chosen one, the defaults for others (compared tiles)."""
        return self.knobs.values() if name == self.method.value else {}

    def target_class(self, index: int | None = None) -> int:
        """The class to explain for an image (the current one by default), checked against the model's classes."""
        i, data = self.index.value if index is None else index, self.session.data
        if self.target.value == "predicted":
            return int(self.session.evaluate(self.split).predictions[i])
        if self.target.value == "true":
            return int(data.labels(self.split)[i])
        if not 0 <= self.klass.value < data.n_classes:
            raise ValueError(f"class {self.klass.value} out of range: choose 0..{data.n_classes - 1}")
        return self.klass.value

    def cam(self, name: str, index: int, target: int):
        """(H, W) map in [0, 1] of one image (memoised by everything that determines it)."""
        layers = self.layers() if METHODS[name].needs_layer else None
        return self.explainers.cam(name, layers, self.params(name), self.split, index, target)

    @guarded
    def recompute(self, change=None) -> None:
        """New image, method, layer, class or knob: the map (memo or one compute), then redraw."""
        cls = METHODS[self.method.value]
        self.layer.disabled = self.combine.disabled = not cls.needs_layer
        self.klass.disabled = self.target.value != "class"
        self.knobs.show(cls)
        target = self.target_class()
        self.cam_ = self.cam(self.method.value, self.index.value, target)
        ev, data, i = self.session.evaluate(self.split), self.session.data, self.index.value
        pred = int(ev.predictions[i])
        self.caption.value = (f"image {i}: predicted <b>{text(data.classes[pred])}</b> "
                              f"({float(ev.probabilities[i, pred]):.2f}), true "
                              f"{text(data.classes[int(data.labels(self.split)[i])])}; "
                              f"explaining class <b>{text(data.classes[target])}</b>")
        self._draw()
        self._gallery()
        for fn in self.redrawn:
            fn()

    @guarded
    def redraw(self, change=None) -> None:
        """Alpha or colormap changed: blend again, no model call."""
        self._draw()
        for fn in self.redrawn:
            fn()

    def _draw(self) -> None:
        if self.cam_ is not None:
            self.image.value = png(overlay(self.images[self.index.value], self.cam_, self.alpha.value,
                                           self.cmap.value), self.scale)

    def _thumb(self):
        """One gallery cell, made once: later moves only change its picture and caption."""
        button = W.Button(layout=W.Layout(width="72px"))
        button.on_click(lambda b: setattr(self.index, "value", b.image_index))
        return W.VBox([W.Image(format="png"), button])

    def _gallery(self) -> None:
        """The page of thumbnails holding the current image, captioned 'prediction (truth)'; a click selects one.
        Pages, not a window centred on the image: a move within the page sends nothing to the browser."""
        ev, data = self.session.evaluate(self.split), self.session.data
        start = max(0, min(self.index.value // self.n_gallery * self.n_gallery, len(self.images) - self.n_gallery))
        for i, cell in zip(range(start, len(self.images)), self.thumbs.children):
            image, button = cell.children
            if getattr(button, "image_index", None) == i:
                continue
            pred, true = int(ev.predictions[i]), int(data.labels(self.split)[i])
            button.image_index, image.value = i, fitted_png(self.images[i], 48)
            with button.hold_sync():  # one message for the three changes
                button.description = f"{data.classes[pred]} ({data.classes[true]})"
                button.button_style, button.tooltip = "" if pred == true else "danger", f"image {i}"
