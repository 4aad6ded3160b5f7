"""Feature visualisation of one unit: its top test images, activation maximisation with its trace, facets."""
from __future__ import annotations

import base64

import ipywidgets as W
import numpy as np
import torch

from ..._html import text
from ...capture import find_layers
from ...data import to_uint8
from ...geometry import maximise_job, multifaceted_job, top_images
from ...geometry.features import layer_outputs
from ...geometry.featvis import STEPS
from .._common import display_scale, guarded, png
from .._jobbar import JobBar
from .._view import View
from ..landscape.figures import figure, view


def img_tags(images: np.ndarray, captions, size: int = 64) -> str:
    """(N, H, W, 3) uint8 images -> one HTML row of <img> tags with captions."""
    scale = display_scale(images.shape[1], size)
    cells = "".join(f"<figure style='display:inline-block;margin:2px;text-align:center'><img src='data:image/png;"
                    f"base64,{base64.b64encode(png(im, scale)).decode()}'/><figcaption style='font-size:11px'>"
                    f"{text(c)}</figcaption></figure>" for im, c in zip(images, captions, strict=True))
    return f"<div class='explorer-images'>{cells}</div>"


class FeaturesView(View):
    """A unit of a layer: the test images that drive it most, and images optimised to drive it (Olah et al. 2017;
    multifaceted: Nguyen et al. 2016, one optimum per cluster of its top images)."""

    again = "press the button again"
    acts = {"show_top": "top", "maximise": "result", "facets": "result"}  # a restored tour presses them again

    def __init__(self, state, error, k: int = 9, steps: int = STEPS):
        session = state.session
        from bokeh.models import ColumnDataSource

        self.k, self.steps = k, steps
        names = [n for n, m in session.model.named_modules() if n and not list(m.children())]
        relu = find_layers(session.model, "relu")
        self.layer = W.Dropdown(options=names, value=relu[0] if relu else names[-1], description="layer")
        self.unit = W.BoundedIntText(value=0, min=0, max=10_000, description="unit", layout=W.Layout(width="160px"))
        self.top_button = W.Button(description="top images")
        self.max_button = W.Button(description="maximise", button_style="primary")
        self.facet_button = W.Button(description="multifaceted")
        self.progress = JobBar("features")
        self.top, self.result = W.HTML(), W.HTML()
        self.trace = ColumnDataSource({"step": [], "activation": []})
        self.figure = figure("activation during optimisation", "step", "activation")
        self.figure.line("step", "activation", source=self.trace, line_width=2)
        self.top_button.on_click(self.show_top)
        self.max_button.on_click(self.maximise)
        self.facet_button.on_click(self.facets)
        super().__init__(state, error, [W.HBox([self.layer, self.unit]),
                                        W.HBox([self.top_button, self.max_button, self.facet_button]), self.progress,
                                        self.top, W.HBox([self.result, view(self.figure)])], self.progress)

    def _choice(self):
        return self.layer.value, int(self.unit.value)

    @guarded
    def show_top(self, _=None) -> None:
        """The k test images with the unit's highest activation (one forward pass: on the kernel's thread)."""
        layer, unit = self._choice()
        data = self.session.data
        idx, act = top_images(self.session.model, data.inputs("test"), layer, unit, self.k)
        self.top.value = img_tags(to_uint8(data.images("test")[torch.as_tensor(idx)]),
                                  [f"#{i} {a:.2f}" for i, a in zip(idx, act, strict=True)])
        self.drawn(act="show_top")

    @guarded
    def maximise(self, _=None) -> None:
        """Activation maximisation of the unit, as a job."""
        layer, unit = self._choice()
        self._check(layer, unit)
        self.submit(maximise_job(self.session, layer, unit, steps=self.steps), self._show, act="maximise")

    @guarded
    def facets(self, _=None) -> None:
        """One optimum per cluster of the unit's top training images, as a job."""
        layer, unit = self._choice()
        self._check(layer, unit)
        self.submit(multifaceted_job(self.session, layer, unit, steps=self.steps), self._show_facets,
                    act="facets")

    def _check(self, layer, unit) -> None:
        n = layer_outputs(self.session.model, self.session.data.inputs("test")[:1], [layer], flatten=False)[layer]
        if unit >= n.shape[1]:
            raise ValueError(f"unit {unit} does not exist: {layer} has {n.shape[1]} units/channels")

    @guarded
    def _show(self, vis) -> None:
        self.result.value = img_tags(to_uint8(torch.as_tensor(vis.image)[None]), [vis.label()], 96)
        self.trace.data = {"step": np.arange(len(vis.trace)), "activation": vis.trace}

    @guarded
    def _show_facets(self, f) -> None:
        images = torch.as_tensor(np.stack([r.image for r in f.results]))
        self.result.value = img_tags(to_uint8(images), [f"facet {i}: {r.label()}"
                                                        for i, r in enumerate(f.results)], 96)
        self.trace.data = {"step": np.arange(len(f.results[0].trace)), "activation": f.results[0].trace}
