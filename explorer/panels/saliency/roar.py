"""DiffROAR of the current method (Shah et al. 2021): the architecture retrained on its top-k vs bottom-k pixels."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import METHODS, lab
from .._common import guarded
from .._jobbar import JobBar
from .._view import View


class RoarView(View):
    """A job of minutes on a copy of the model (two trainings), with its own progress bar and cancel."""

    again = "press <b>DiffROAR</b>"
    press = "diff_roar"

    def __init__(self, state, error):
        slow = dict(continuous_update=False)
        self.roar_button = W.Button(description="DiffROAR", icon="refresh",
                                    tooltip="retrain on the top-k vs the bottom-k attributed pixels (slow)")
        self.roar_k = W.FloatSlider(0.2, min=0.05, max=0.95, step=0.05, description="keep k", **slow)
        self.roar_epochs = W.IntSlider(5, min=1, max=30, description="epochs", **slow)
        self.roar_progress = JobBar("DiffROAR")
        self.roar = W.HTML()
        self.roar_result_ = None
        self.roar_button.on_click(self.diff_roar)
        if state.session.target is not None:  # not a classifier: nothing to retrain on class labels
            self.roar_button.disabled, self.roar.value = True, text(lab.ROAR_REFUSED)
        super().__init__(state, error, [W.HBox([self.roar_button, self.roar_k, self.roar_epochs]),
                                        self.roar_progress, self.roar], self.roar_progress)

    @guarded
    def diff_roar(self, button=None) -> None:
        """DiffROAR for the current method and knobs."""
        st, name, k = self.state, self.state.method, self.roar_k.value
        layers = st.layers() if METHODS[name].needs_layer else None
        job = lab.diff_roar_job(self.session, name, layers, st.params_of(name), k, self.roar_epochs.value)
        self.submit(job, lambda r: self._show_roar(r, name, k))

    def _show_roar(self, r, name, k) -> None:
        self.roar_result_ = r
        self.roar.value = (f"DiffROAR of <b>{text(name)}</b> keeping {k:.0%} of the pixels: retrained on the "
                           f"most attributed {r['top_accuracy']:.1%}, on the least {r['bottom_accuracy']:.1%}, "
                           f"difference <b>{r['diff_roar']:+.3f}</b> (&gt; 0: the map ranks the evidence first; "
                           "a random map gives about 0)")
