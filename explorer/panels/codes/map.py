"""The codes map view: redundancy and k-NN of the chosen codes, and their 2-D map coloured four ways."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ...codes import METHODS, lab
from ...codes.bigmap import BIG, CAP, sample_note
from ...codes.embed_large import note
from ...table import Table
from .._common import guarded, load_bokeh
from .._images import thumbnails
from .._jobbar import JobBar
from .._view import View
from ..bokehjs import view
from ..kernelmap import KernelMap
from .colouring import COLOURINGS, PALETTE, colouring, legend

HOVER_IMAGES = 5000  # thumbnails per point in the page up to this (50,000: 31 MB); above, index and labels
TOOLTIP = "#@index: label @label, predicted @prediction"


class MapView(View):
    """Codes and metrics, then the map, as jobs (the latest choice wins); a recolour redraws. Recomputed when the
    weights change. Above BIG points the map is drawn in the kernel (KernelMap); at most CAP points (sampled)."""

    cheap = True

    def __init__(self, state, error, max_points: int = 3000, seed: int = 0):
        self.max_points, self.seed = min(max_points, CAP), seed
        self.method = W.Dropdown(options=METHODS, value="PCA", description="map")
        self.colour = W.Dropdown(options=COLOURINGS, value="label", description="colour")
        self.metrics, self.tables_ = W.HTML(), {}  # tables_: name -> rows
        self.map_ = self.drawn_ = self.summary_ = None  # the map computed, the map the page holds, its codes
        self.source, self.plot = self._figure()
        self.big = KernelMap(error, on_select=lambda i: setattr(state, "selection", tuple(i)))
        bar = JobBar("map")
        super().__init__(state, error, [W.HBox([self.method, self.colour]), self.metrics, bar, self.plot], bar)
        state.observe_codes(self.recompute)
        self.method.observe(self.recompute, names="value")
        self.colour.observe(self.redraw, names="value")
        self.source.selected.on_change("indices", lambda attr, old, new: setattr(state, "selection", tuple(new)))

    def _figure(self):
        """A bokeh scatter with image hover and box/lasso selection, wrapped for ipywidgets."""
        from bokeh.models import ColumnDataSource, HoverTool, Legend, LinearColorMapper
        from bokeh.plotting import figure
        from bokeh.transform import transform

        load_bokeh()
        source = ColumnDataSource({k: [] for k in ("x", "y", "code", "label", "prediction", "index", "image")})
        fig = figure(width=560, height=440, tools="pan,wheel_zoom,box_select,lasso_select,reset",
                     output_backend="webgl", title="codes")
        # colours from an integer column through a mapper in the page: a recolour sends one binary array (not strings)
        self.mapper = LinearColorMapper(palette=list(PALETTE), low=-0.5, high=len(PALETTE) - 0.5)
        self.glyph = fig.scatter("x", "y", source=source, color=transform("code", self.mapper), size=6, alpha=0.8)
        self.legend = Legend(items=[], label_text_font_size="9pt")
        fig.add_layout(self.legend, "right")  # beside the map, not over its points
        self.hover = HoverTool(tooltips=f"<div><img src='@image' width='56'><br>{TOOLTIP}</div>")
        fig.add_tools(self.hover)
        self.plot_figure = fig
        return source, view(fig)

    def indices(self) -> np.ndarray:
        """The (seeded) sample of the split drawn on the map."""
        return lab.map_indices(len(self.session.data.labels(self.state.split)), self.max_points, self.seed)

    @guarded
    def recompute(self, change=None) -> None:
        """New codes or map method: the old map is cleared at once, then the summary and the map are jobs."""
        s, st = self.session_now(), self.state
        self.forget()
        self.source.selected.indices = []  # indices of the old map mean other inputs now
        st.points, st.selection = None, ()
        self.map_ = self.drawn_ = self.summary_ = None
        self.metrics.value = ""
        self.source.data = {k: [] for k in self.source.data}
        self.submit(lab.summary_job(s, st.layers(), st.split, self.seed, self.max_points), self._summary)

    def _summary(self, r) -> None:
        """The codes' metrics; then their map."""
        self.summary_ = r
        self.tables_ = {"determinism": r["determinism"]}
        self.metrics.value = (f"<b>{r['bits']} bits</b>; {r['k']}-NN (Hamming) test accuracy <b>{r['knn']:.3f}</b>; "
                              "<i>redundancy ratio</i> = (N &minus; unique codes) / N (the paper's); "
                              "<i>share sharing a code</i> = inputs whose code another input also has"
                              + Table(r["determinism"]).to_html())
        s, st = self.session_now(), self.state
        key = lab.summary_key(s, st.layers(), st.split, self.seed, self.max_points)
        self.submit(lab.embed_job(r["sample"], key, self.method.value, self.seed), self._show)

    def _show(self, xy) -> None:
        """Draw a newly computed (or stored) map."""
        self.map_ = xy
        self.redraw()

    def _big(self, codes, palette, keys, y, pred) -> None:
        """Above BIG points: the map drawn in the kernel (in place of bokeh's), saying its embedding and sample."""
        n, total = len(self.map_), len(self.session.data.labels(self.state.split))
        title = "; ".join(filter(None, (note(n, self.method.value), sample_note(total, n, self.seed))))
        self.state.points = idx = self.indices()
        plot = self.big.update(self.map_, codes, palette, keys, title, {"#": idx, "label": y, "predicted": pred})
        self.children = tuple(plot if c is self.plot else c for c in self.children)

    def _colours(self):
        """Each drawn point's colour code, each code's colour and legend key, labels and predictions."""
        st = self.state
        return colouring(self.shown_[0], st.split, self.indices(), self.colour.value, st.layers())

    def point_colours(self) -> list[str]:
        """The colour each drawn point has in the page (what the mapper makes of its code)."""
        return [self.mapper.palette[int(c)] for c in self.source.data["code"]]

    def legend_keys(self) -> list[str]:
        """The legend's entries."""
        return [item.label["value"] for item in self.legend.items]

    def images(self) -> list[str]:
        """Every drawn point's thumbnail for the hover (memoised per split); none above HOVER_IMAGES points."""
        n, split = len(self.indices()), self.state.split
        if n > HOVER_IMAGES:
            return [""] * n
        return self.session.memo(("codes-thumbnails", split, self.max_points, self.seed),
                                 lambda: thumbnails(self.session.data, split, self.indices()))

    @guarded
    def redraw(self, change=None) -> None:
        """Recolour the existing map (no recomputation of the embedding)."""
        if self.map_ is None:
            return
        codes, palette, keys, y, pred = self._colours()
        if len(self.map_) > BIG:
            self._big(codes, palette, keys, y, pred)
        elif self.drawn_ is self.map_:  # the same points: only the colour columns go to the page, not the images
            self.source.data.update(code=codes)  # the same points, so the same model: predictions unchanged
            legend(self.mapper, self.legend, self.glyph, codes, palette, keys)
        else:
            self._scatter(codes, palette, keys, y, pred)
        self.drawn_ = self.map_

    def _scatter(self, codes, palette, keys, y, pred) -> None:
        """Up to BIG points: bokeh's WebGL scatter in the page, its hover there."""
        self.children = tuple(self.plot if c is self.big.plot else c for c in self.children)
        many = len(self.map_) > HOVER_IMAGES
        tip = TOOLTIP if many else f"<img src='@image' width='56'><br>{TOOLTIP}"
        self.hover.tooltips = f"<div>{tip}</div>"
        legend(self.mapper, self.legend, self.glyph, codes, palette, keys)
        self.source.data = {"x": self.map_[:, 0], "y": self.map_[:, 1], "code": codes, "label": y,
                            "prediction": pred, "index": self.indices(), "image": self.images()}
        self.state.points = self.indices()
