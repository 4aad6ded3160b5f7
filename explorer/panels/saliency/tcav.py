"""The TCAV view: a concept set and random sets from the data (or tensors given in Python), a layer and a class; the
concept's TCAV scores beside the random concepts', the t-test and its caveat (Kim et al. 2018)."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ..._html import text
from ...layers import find_layers
from ...saliency.concept_sets import class_inputs, tcav_sets
from ...saliency.methods.util import check_input
from ...saliency.tcav import CAVEAT, tcav_job
from .._common import guarded
from .._jobbar import JobBar
from .._view import View

SOURCES = ("the data", "tensors given in Python")


def strip_plot(scores, randoms, width: int = 420) -> str:
    """An inline SVG: each run's TCAV score (blue) and random concept's score (grey) on a 0..1 axis, means as bars."""
    x = lambda v: 70 + float(v) * (width - 90)  # noqa: E731 - score -> pixel
    out = [f"<svg width='{width}' height='74' class='explorer-tcav-plot' style='font:11px sans-serif'>"]
    for v in (0, 0.5, 1):
        out.append(f"<line x1='{x(v)}' x2='{x(v)}' y1='4' y2='54' stroke='#ddd'/>"
                   f"<text x='{x(v) - 6}' y='68'>{v:g}</text>")
    for row, (name, vals, colour) in enumerate((("concept", scores, "#1f77b4"), ("random", randoms, "#777"))):
        y = 16 + 26 * row
        out.append(f"<text x='0' y='{y + 4}'>{name}</text>")
        out += [f"<circle cx='{x(v):.1f}' cy='{y}' r='4' fill='{colour}' fill-opacity='0.45'/>" for v in vals]
        m = x(np.mean(vals))
        out.append(f"<line x1='{m:.1f}' x2='{m:.1f}' y1='{y - 9}' y2='{y + 9}' stroke='{colour}' stroke-width='3'/>")
    return "".join(out) + "</svg>"


def px(width: int, **kw) -> dict:
    """A control `width` pixels wide, its label as wide as its text and a gap after it: each row of the view fits
    the tour's panel (about 900 px) and wraps in a narrower one, never running off its edge."""
    return dict(layout=W.Layout(width=f"{width}px", margin="2px 12px 2px 2px"),
                style={"description_width": "initial"}, **kw)


class TcavView(View):
    """TCAV at a layer for a class: the examples are read from the session's data by class labels or index ranges
    ('class 3', '0-29, 40'), or given in Python with `given(concept, randoms, inputs)`. One job on a copy of the
    model; a result of an older request is never drawn; the weights' changes are marked by the View."""

    again = "press <b>TCAV</b>"
    press = "run"

    def __init__(self, state, error, classes, splits):
        slow = dict(continuous_update=False)
        self.source = W.Dropdown(options=SOURCES, description="examples from", **px(240))
        self.split = W.Dropdown(options=list(splits), value=state.split, description="split", **px(130))
        self.concept = W.Text("class 1", description="concept", placeholder="class 3  or  0-29, 40", **px(220))
        self.randoms = W.Text("all", description="random from", placeholder="all, class 0, 100-299", **px(240))
        layers = list(state.layer_order) or find_layers(state.session.model, "relu") or find_layers(state.session.model)
        self.layer = W.Dropdown(options=layers, value=state.layer if state.layer in layers else (layers or [None])[-1],
                                description="layer", **px(180))  # the lab's layers; without spatial maps: its ReLUs
        self.target = W.Dropdown(options=[(f"{i}: {c}", i) for i, c in enumerate(classes)], description="class",
                                 **px(170))
        self.n_inputs = W.IntSlider(50, min=2, max=500, description="inputs", **px(200, **slow))
        self.runs = W.IntSlider(10, min=2, max=50, description="runs", **px(190, **slow))
        self.button = W.Button(description="TCAV", icon="bullseye", layout=W.Layout(width="90px"))
        self.bar = JobBar("TCAV")
        self.plot, self.summary = W.HTML(), W.HTML()
        self.result_ = self.request_ = self.given_ = None
        self.given_count = 0
        self.button.on_click(self.run)
        rows = [W.HBox(r, layout=W.Layout(flex_flow="row wrap")) for r in
                ([self.source, self.split, self.concept, self.randoms],
                 [self.layer, self.target, self.n_inputs, self.runs, self.button])]
        super().__init__(state, error, [*rows, self.bar, self.plot, self.summary], self.bar)
        self.add_class("explorer-tcav")

    def given(self, concept, randoms, inputs=None) -> None:
        """Use your own examples, model inputs (N, C, H, W): the concept's images, the random images (one tensor the
        random sets are drawn from, or a list of runs + 1 sets) and optionally the inputs to explain (default: the
        chosen class's images of the split). The view then reads them: press TCAV (or call run()). Bad tensors
        raise here and are shown in the panel."""
        many = isinstance(randoms, (list, tuple))
        named = [("concept", concept), *(("random", r) for r in (randoms if many else [randoms])),
                 *([("inputs", inputs)] if inputs is not None else [])]
        try:
            for what, t in named:
                try:
                    check_input(t)
                except ValueError as err:
                    raise ValueError(f"TCAV: the {what} images: {err}") from None
        except ValueError as err:
            self.error.show(err)
            raise
        self.given_ = (concept, list(randoms) if many else randoms, inputs)
        self.given_count += 1
        self.source.value = SOURCES[1]
        self.error.clear()

    def request(self) -> tuple:
        """What a result is for: the examples (their text, or which tensors given), layer, class, inputs and runs."""
        examples = (self.given_count,) if self.source.value == SOURCES[1] else (self.concept.value, self.randoms.value)
        return (self.source.value, self.split.value, *examples, self.layer.value, self.target.value,
                self.n_inputs.value, self.runs.value)

    def examples(self, data) -> tuple:
        """(concept, random images, inputs, words) for the request."""
        split, target, n = self.split.value, self.target.value, self.n_inputs.value
        if self.source.value == SOURCES[0]:
            return tcav_sets(data, split, self.concept.value, self.randoms.value, target, n)
        if self.given_ is None:
            raise ValueError("TCAV: no tensors given: call the view's given(concept, randoms, inputs) first")
        concept, randoms, inputs = self.given_
        if inputs is None:
            inputs = class_inputs(data, split, target, n)
        return concept, randoms, inputs, f"a concept given in Python: {len(concept)} images"

    @guarded
    def run(self, button=None) -> None:
        """TCAV for the current choices (a job; the latest request wins)."""
        request = self.request_ = self.request()
        if self.layer.value is None:
            raise ValueError("TCAV needs a layer; this model offers none")
        s = self.session_now()
        concept, randoms, inputs, words = self.examples(s.data)
        job = tcav_job(s, self.layer.value, concept, randoms, inputs, self.target.value, self.runs.value)
        self.submit(job, lambda r: self._show(r, request, words), session=s)

    def _show(self, r, request: tuple, words: str) -> None:
        if request != self.request_:  # an older request's result: never drawn
            return
        self.result_ = r
        name = self.session.data.classes[r.target] if r.target < len(self.session.data.classes) else r.target
        verdict = "<b>significant</b>" if r.significant else "not significant"
        self.plot.value = strip_plot(r.scores, r.random_scores)
        self.summary.value = (
            f"TCAV score of the concept for class <b>{text(name)}</b> at layer <b>{text(r.layer)}</b>: "
            f"<b>{r.score:.2f}</b> (mean of {len(r.scores)} runs, each against its own random set; random concepts "
            f"{np.mean(r.random_scores):.2f}); p = {r.p_value:.3g}: {verdict} at 0.05. CAV accuracy "
            f"{np.mean(r.accuracies):.2f}. <small>On {text(words)}.</small><br><small>&#9888; {text(CAVEAT)}</small>")
