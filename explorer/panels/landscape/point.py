"""The live point: α and β sliders move the marker at once and evaluate the model there (debounced)."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...data import to_uint8
from ...landscape import lab
from .._common import debounce, display_scale, guarded, png


class PointView(W.VBox):
    """Loss, accuracy and the shown images' predictions at θ + α d1 + β d2, by a functional forward (the user's
    model is never changed); cheap enough for the kernel's thread."""

    def __init__(self, slices, error, n_shown: int = 8):
        self.slices, self.error, self.session = slices, error, slices.session
        self.alpha = W.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.02, description="α")
        self.beta = W.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.02, description="β")
        self.readout = W.HTML()
        data = self.session.data
        shown = to_uint8(data.images("test")[:n_shown])
        self.n_shown, scale = len(shown), display_scale(shown.shape[1], 56)
        self.captions = [W.HTML() for _ in shown]
        gallery = W.HBox([W.VBox([W.Image(value=png(im, scale), format="png"), c])
                          for im, c in zip(shown, self.captions, strict=True)])
        for w in (self.alpha, self.beta):
            w.observe(self.moved, names="value")
        slices.shown.append(self.follow)
        slices.beta_value = lambda: self.beta.value
        super().__init__([W.HBox([self.alpha, self.beta]), self.readout, gallery])

    def follow(self, axes, span) -> None:
        """New axes or a finished slice: slider ranges to the slice's, and the point evaluated on them."""
        for w in (self.alpha, self.beta):
            w.min, w.max, w.step = -span, span, span / 50
        self.point()

    @guarded
    def moved(self, change=None) -> None:
        """Marker and curve cursor at once; the point's evaluation debounced."""
        self.slices.marker.data = {"x": [self.alpha.value], "y": [self.beta.value]}
        self.slices.curve_at.location = self.alpha.value
        self.point()

    @debounce(0.15)
    @guarded
    def point(self) -> None:
        """The perturbed model at (α, β): loss, accuracy and predictions."""
        axes = self.slices.axes_
        if axes is None:
            return
        a, b, data, n = self.alpha.value, self.beta.value, self.session.data, self.slices.n_eval
        if not (np.isfinite(a) and np.isfinite(b)):
            raise ValueError(f"α and β must be finite numbers; got α={a}, β={b}")
        r = lab.at_point(self.session.model, *axes, a, b, *lab.eval_batch(data, n),
                         data.inputs("test")[:self.n_shown])
        self.readout.value = (f"at α={a:+.3f}, β={b:+.3f}: <b>loss {r['loss']:.4f}</b>, accuracy "
                              f"{r['accuracy']:.1%} on {data.describe_sample('test', n)}")
        truth = data.labels("test")[:self.n_shown]
        for cap, p, c, t in zip(self.captions, r["predictions"], r["confidence"], truth, strict=True):
            colour = "#1b7f3a" if p == int(t) else "#b00020"
            cap.value = f"<span style='color:{colour}'>{text(data.classes[p])} {c:.2f}</span>"
        self.slices.follow_beta()  # the map is unchanged by a move; the β row may be
