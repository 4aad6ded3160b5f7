"""The LRP view: a rule per layer group and its parameters, the map, and how faithful the rules are, scored live."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import METHODS, overlay
from ...saliency.lrp_tuning import lrp_score_job
from .._common import display_scale, guarded, png
from .._jobbar import JobBar
from .._view import View
from .knobs import KnobForm


class LrpView(View):
    """LRP's knobs (preset, first/conv/dense rules, eps, gamma, alpha: the method's own, as the knob form reads them);
    each change submits one job (the map of the current image and the scores on a sample of 8); a result is drawn
    only if it is for the choices shown now."""

    cheap = True  # one LRP map and a few dozen forwards: recomputed when the weights change

    def __init__(self, state, error, images):
        self.images, self.scale = images, display_scale(images.shape[1], 160)
        self.knobs = KnobForm()
        self.knobs.show(METHODS["LRP"])
        self.knobs.widgets["rule"].value = "EpsilonPlus"
        self.knobs.layout.flex = "0 0 380px"  # beside a wide map the form was squeezed and its readouts cut off
        for w in self.knobs.widgets.values():  # (observe_values reaches only the controls show() makes later)
            w.observe(self.recompute, names="value")
        self.bar = JobBar("LRP")
        self.image, self.score = W.Image(format="png"), W.HTML()
        self.result_ = self.request_ = None
        self.scores_: list[dict] = []  # every score drawn, in order (the last is on screen)
        super().__init__(state, error, [W.HTML("<b>LRP, tuned per layer group and scored</b>"),
                                        W.HBox([self.knobs, W.VBox([self.image, self.score])]), self.bar], self.bar)
        state.observe(self.follow, names=["index", "split", "target", "klass"])

    def follow(self, change=None) -> None:
        """The image or class changed: recompute once this view has been asked for (its tab opened)."""
        if self.request_ is not None:
            self.recompute()

    def request(self) -> tuple:
        """(knobs, split, image, class): what the drawn result must be for."""
        st = self.state
        return tuple(sorted(self.knobs.values().items())), st.split, st.index, st.target_class()

    @guarded
    def recompute(self, change=None) -> None:
        """A knob, the image or the class changed: one job for the map and the scores (the latest wins)."""
        request = self.request_ = self.request()
        params, split, index, target = request
        self.score.value = "<i>scoring&hellip;</i>"
        self.submit(lrp_score_job(self.session, dict(params), split, index, target),
                    lambda r: self._show(r, request))

    def _show(self, r: dict, request: tuple) -> None:
        if request != self.request_:  # an older choice's result: never drawn
            return
        self.result_ = r
        self.scores_.append({k: r[k] for k in ("deletion_auc", "insertion_auc", "faithfulness")})
        self.image.value = png(overlay(self.images[request[2]], r["map"], self.state.alpha, self.state.cmap),
                               self.scale)
        notes = "".join(f"<br><small>{text(n)}</small>" for n in r["notes"])
        self.score.value = (f"on 8 {text(request[1])} images: deletion AUC <b>{r['deletion_auc']:.3f}</b> (lower is "
                            f"more faithful), insertion AUC {r['insertion_auc']:.3f}, faithfulness correlation "
                            f"<b>{r['faithfulness']:+.3f}</b> (higher is better){notes}")
