"""The live point: α and β sliders set the state at once (the slice's marker follows) and evaluate the model there."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...data import to_uint8
from ...landscape import lab
from .._common import debounce, display_scale, guarded, png
from .._view import View


class PointView(View):
    """Loss, accuracy and the shown images' predictions at θ + α d1 + β d2 on the state's axes, by a functional
    forward (the user's model is never changed); cheap enough for the kernel's thread, debounced, and evaluated
    again on the current weights when they change."""

    cheap = True

    def __init__(self, state, error, n_eval: int = 512, n_shown: int = 8):
        self.n_eval = n_eval
        self.alpha = W.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.02, description="α")
        self.beta = W.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.02, description="β")
        self.readout = W.HTML()
        data = state.session.data
        shown = to_uint8(data.images("test")[:n_shown])
        self.n_shown, scale = len(shown), display_scale(shown.shape[1], 56)
        self.captions = [W.HTML() for _ in shown]
        gallery = W.HBox([W.VBox([W.Image(value=png(im, scale), format="png"), c])
                          for im, c in zip(shown, self.captions, strict=True)])
        W.link((self.alpha, "value"), (state, "alpha"))
        W.link((self.beta, "value"), (state, "beta"))
        state.observe(self.follow, names=["axes", "span"])
        state.observe(lambda change: self.recompute(), names=["alpha", "beta"])
        super().__init__(state, error, [W.HBox([self.alpha, self.beta]), self.readout, gallery])

    def follow(self, change=None) -> None:
        """New axes: slider ranges to the slice's span, and the point evaluated on them."""
        span = self.state.span
        for w in (self.alpha, self.beta):
            w.min, w.max, w.step = -span, span, span / 50
        self.recompute()

    @debounce(0.15)
    @guarded
    def recompute(self, change=None) -> None:
        """The perturbed model at (α, β): loss, accuracy and predictions."""
        st = self.state
        if st.axes is None:
            return
        a, b, data = st.alpha, st.beta, self.session.data
        if not (np.isfinite(a) and np.isfinite(b)):
            raise ValueError(f"α and β must be finite numbers; got α={a}, β={b}")
        r = lab.at_point(self.session.model, *st.axes, a, b, *lab.eval_batch(data, self.n_eval),
                         data.inputs("test")[:self.n_shown])
        self.readout.value = (f"at α={a:+.3f}, β={b:+.3f}: <b>loss {r['loss']:.4f}</b>, accuracy "
                              f"{r['accuracy']:.1%} on {data.describe_sample('test', self.n_eval)}")
        truth = data.labels("test")[:self.n_shown]
        for cap, p, c, t in zip(self.captions, r["predictions"], r["confidence"], truth, strict=True):
            colour = "#1b7f3a" if p == int(t) else "#b00020"
            cap.value = f"<span style='color:{colour}'>{text(data.classes[p])} {c:.2f}</span>"
        self.drawn()
