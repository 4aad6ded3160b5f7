"""The linear interpreter at one test image: W_x rows as class templates, the bias share, the reproduction error."""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch

from ..._html import text
from ...capture import eval_mode
from ...device import model_device
from ...geometry import local_map_job
from .._common import guarded, png
from .._jobbar import JobBar
from .._view import View


def diverging(a: np.ndarray) -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8: blue negative, white zero, red positive (symmetric about 0)."""
    v = a / max(float(np.abs(a).max()), 1e-12)
    rgb = np.stack([1 - np.clip(-v, 0, 1), 1 - np.abs(v), 1 - np.clip(v, 0, 1)], -1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def template_grid(weight: np.ndarray, classes, scale: int = 4) -> np.ndarray:
    """(K, C, H, W) class rows -> one labelled (H', W', 3) image, a tile per class (channels summed)."""
    from PIL import Image, ImageDraw

    tiles = [np.kron(diverging(w.sum(0)), np.ones((scale, scale, 1), np.uint8)) for w in weight]
    h, w = tiles[0].shape[:2]
    pad = 14
    canvas = Image.new("RGB", (len(tiles) * (w + 4), h + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (t, name) in enumerate(zip(tiles, classes, strict=True)):
        canvas.paste(Image.fromarray(t), (i * (w + 4), pad))
        draw.text((i * (w + 4) + 2, 1), str(name)[:8], fill="black")
    return np.asarray(canvas)


class LinearView(View):
    """W_x and b_x of the network at one test input (exact for piecewise-linear models)."""

    again = "press <b>compute map</b>"

    def __init__(self, state, error):
        session = state.session
        self.map_ = None
        n = len(session.data.inputs("test"))
        self.index = W.IntSlider(value=0, min=0, max=n - 1, description="test image", continuous_update=False)
        self.linearise = W.Checkbox(value=False, description="linearise at the input")
        self.button = W.Button(description="compute map", button_style="primary")
        self.progress = JobBar("local map")
        self.templates, self.table, self.note = W.Image(format="png"), W.HTML(), W.HTML()
        self.templates.layout.display = "none"  # an empty picture draws a broken-image icon until the first map
        self.button.on_click(self.recompute)
        self.index.observe(self.recompute, names="value")
        super().__init__(state, error, [W.HBox([self.index, self.linearise, self.button]), self.progress,
                                        self.note, self.templates, self.table], self.progress)

    @guarded
    def recompute(self, _=None) -> None:
        """The local map at the chosen input, as a job."""
        i, lin = int(self.index.value), bool(self.linearise.value)
        self.submit(local_map_job(self.session, [i], "test", lin), lambda m: self._show(m, i))

    @guarded
    def _show(self, m, i) -> None:
        self.map_ = m
        data = self.session.data
        self.templates.value = png(template_grid(m.weight[0], data.classes))
        self.templates.layout.display = ""
        share = m.bias_share()[0]
        rows = "".join(f"<tr><td>{text(c)}</td><td>{m.logits[0, k]:+.3f}</td>"
                       f"<td>{m.linear_part[0, k]:+.3f}</td><td>{m.bias[0, k]:+.3f}</td><td>{share[k]:.0%}</td></tr>"
                       for k, c in enumerate(data.classes))
        self.table.value = ("<table><tr><th>class</th><th>logit</th><th>W<sub>x</sub> x</th><th>b<sub>x</sub></th>"
                            f"<th>bias share</th></tr>{rows}</table>")
        err = self.reproduction(i, m)
        kind = text(m.label()).replace("exact", "exact map", 1)  # with "on a region boundary: k ties" when so
        self.note.value = (f"<b>{kind}</b> at test image {i} (true class "
                           f"{text(data.classes[int(data.labels('test')[i])])}); "
                           f"red: raises the class's logit, blue: lowers it. Reproduction error of W<sub>x</sub>x'+"
                           f"b<sub>x</sub> at x' = x + 10<sup>-4</sup> noise: {err:.2e}")

    def reproduction(self, i, m) -> float:
        """max |f(x') - (W_x x' + b_x)| at a point next to x (0 up to rounding inside one linear region)."""
        x = self.session.data.inputs("test")[i:i + 1].float()
        x2 = x + 1e-4 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        model = self.session.model
        with torch.no_grad(), eval_mode(model):
            out = model(x2.to(model_device(model))).float().cpu().numpy()
        return float(np.abs(out - m.apply(x2.numpy())).max())
