"""The saliency map view: image, method, layer(s), class and knobs recompute (a job, memoised); alpha and colormap
redraw."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import COLORMAPS, METHODS, overlay
from ...saliency.kinds import KINDS, session_kinds
from ...saliency.lab import Explainers, map_key
from ...saliency.overlay import colormap
from .._common import display_scale, guarded, png, reporting
from .._jobbar import JobBar
from .._view import View
from .knobs import KnobForm

NOTE = "<div style='color:#8a5a00;background:#fff4d6;padding:2px 6px;max-width:420px'>&#9888; {}</div>"


def method_options(layers: list[str]) -> list[tuple[str, str]]:
    """The method menu as (label, name) pairs, "family · name", grouped by the classes' family in the registry's
    order of first appearance (a Dropdown has no optgroups); CAMs and methods that need a layer only with a layer."""
    names = [n for n, c in METHODS.items() if layers or c.family != "CAM" and not c.needs_layer]
    first = {}
    for n in names:
        first.setdefault(METHODS[n].family, len(first))
    names.sort(key=lambda n: first[METHODS[n].family])  # stable: the registry's order within a family
    return [(f"{METHODS[n].family} · {n}", n) for n in names]


class MapView(View):
    """One image's map for one method, layer(s), class and knobs, over the image. The map is computed on a private
    copy of the model off the kernel's thread (a burst of moves computes the first and the last); recomputed when
    the weights change."""

    cheap = True

    def __init__(self, state, error, images, options):
        self.images, self.scale = images, display_scale(images.shape[1], 192)
        self.explainers = Explainers(state.session)
        self.cam_ = self.request_ = None
        st, slow = state, dict(continuous_update=False)
        layers = list(st.layer_order)
        self.index = W.IntSlider(st.index, 0, len(images) - 1, description="image", **slow)
        self.method = W.Dropdown(options=options, value=st.method, description="method")
        self.layer = W.Dropdown(options=layers, value=st.layer, description="layer")
        self.combine = W.SelectMultiple(options=layers, value=(), description="+ layers",  # mean of normalised maps
                                        rows=max(1, min(3, len(layers))), tooltip="combine the layer with these")
        self.kinds = session_kinds(st.session)  # not a classifier: the target kinds that fit its output
        if self.kinds and st.target not in self.kinds:
            st.target = st.session.target if st.session.target in self.kinds else self.kinds[0]
        self.target = W.Dropdown(options=self.kinds or ["predicted", "true", "class"], value=st.target,
                                 description="target")
        self.klass = W.IntText(st.klass, description="class", layout=W.Layout(width="160px"))
        self.alpha = W.FloatSlider(st.alpha, min=0, max=1, step=0.05, description="alpha")
        self.cmap = W.Dropdown(options=list(COLORMAPS), value=st.cmap, description="colormap")
        self.knobs = KnobForm()
        self.image, self.caption, self.notes = W.Image(format="png"), W.HTML(), W.HTML()  # notes: the method's
        self.scale_bar = W.Image(format="png", layout=W.Layout(height="12px", width="192px"))
        self.scale_note = W.HTML("<small>map, normalised per image: 0 (least) &rarr; 1 (most)</small>")
        if not layers:  # an MLP: input methods only, no layer to choose
            self.layer.layout.display = self.combine.layout.display = "none"
        for name in ("index", "method", "layer", "combine", "target", "klass", "alpha", "cmap"):
            W.link((getattr(self, name), "value"), (st, name))
        self.knobs.observe_values(lambda change: setattr(st, "params", self.knobs.values()))
        st.observe(self.recompute, names=["index", "method", "layer", "combine", "target", "klass", "params"])
        st.observe(self.redraw, names=["alpha", "cmap"])
        controls = W.VBox([self.index, self.method, self.layer, self.combine, W.HBox([self.target, self.klass]),
                           self.alpha, self.cmap, self.knobs])
        bar = JobBar("map")
        super().__init__(state, error, [W.HBox([controls, W.VBox([self.image, self.scale_bar, self.scale_note,
                                                                  self.caption, self.notes, bar])])], bar)

    @property
    def computes(self) -> int:
        """Maps computed so far (not taken from the memo)."""
        return self.explainers.computes

    @guarded
    def recompute(self, change=None) -> None:
        """New image, method, layer, class or knob: the map from the memo at once, else as this view's job."""
        st, cls = self.state, METHODS[self.state.method]
        self.layer.disabled = self.combine.disabled = not cls.needs_layer
        self.klass.disabled = st.target not in ("class", *KINDS)
        self.klass.description = KINDS.get(st.target, "class")
        if change is None or change["name"] == "method":
            self.knobs.show(cls)  # a new method's knobs (at their defaults) before its request is read
            st.params = self.knobs.values()
        request = st.request(st.method)
        if (m := self.explainers.stored(request)) is not None:
            self._show(m, request)
            self.drawn()
            return
        self.submit(self.explainers.maps_job([request]), lambda maps: self._done(maps, request))

    def _done(self, maps, request) -> None:
        self._show(self.explainers.keep(maps, self.ticket_, [request])[0], request)

    def _show(self, cam, request) -> None:
        """Draw a map of a request, captioned with the prediction and the class explained."""
        name, _, _, split, i, target = request
        self.cam_, self.request_ = cam, request
        if self.kinds:  # not a classifier: no prediction to state
            what = repr(self.session.target) if target[0] == "given" else f"{target[0]} {target[1]}"
            self.caption.value = f"image {i}: explaining <b>{text(what)}</b> with {text(name)}"
        else:
            self._caption(name, split, i, target)
        self.notes.value = "".join(NOTE.format(text(n)) for n in self.explainers.notes(request))
        self.redraw()
        self.state.drawn = map_key(*request)

    def _caption(self, name, split, i, target) -> None:
        """A classifier's caption: the image's prediction, truth and the class explained."""
        ev, data = self.session.evaluate(split), self.session.data
        pred = int(ev.predictions[i])
        self.caption.value = (f"image {i}: predicted <b>{text(data.classes[pred])}</b> "
                              f"({float(ev.probabilities[i, pred]):.2f}), true "
                              f"{text(data.classes[int(data.labels(split)[i])])}; "
                              f"explaining class <b>{text(data.classes[target])}</b> with "
                              f"{text(name)}")

    @reporting
    def redraw(self, change=None) -> None:
        """Alpha or colormap changed: blend again, no model call."""
        self.scale_bar.value = png(colormap(self.state.cmap)[None, :, :].repeat(12, 0))
        if self.cam_ is not None:  # over the image it was computed for (a newer one may still be computing)
            self.image.value = png(overlay(self.images[self.request_[4]], self.cam_, self.state.alpha,
                                           self.state.cmap), self.scale)
