"""The codes map view: redundancy and k-NN of the chosen codes, and their 2-D map coloured four ways."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ...codes import METHODS, lab
from ...table import Table
from .._common import guarded, load_bokeh
from .._images import thumbnails
from .._jobbar import JobBar
from .._view import View
from ..bokehjs import view
from .colouring import COLOURINGS, PALETTE, colouring

HOVER_IMAGES = 5000  # thumbnails per point in the page up to this (50,000 would be 31 MB): above, the hover shows
# index and labels, and a selection still shows its images
TOOLTIP = "#@index: label @label, predicted @prediction"


class MapView(View):
    """Codes and metrics, then the map, as jobs (off the kernel's thread, the latest choice wins); a recolour
    redraws. Recomputed when the weights change: it is what the lab is about."""

    cheap = True

    def __init__(self, state, error, max_points: int = 3000, seed: int = 0):
        self.max_points, self.seed = max_points, seed
        self.method = W.Dropdown(options=METHODS, value="PCA", description="map")
        self.colour = W.Dropdown(options=COLOURINGS, value="label", description="colour")
        self.metrics = W.HTML()
        self.tables_: dict[str, list] = {}
        self.map_ = self.drawn_ = self.summary_ = None  # the map computed, the map the page holds, its codes
        self.source, self.plot = self._figure()
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
        # colours from an integer column through a mapper in the page: a recolour of 50,000 points sends one binary
        # array, not 50,000 colour and legend strings as JSON (0.5 s to serialise alone)
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
        """New codes (layer, split, checkpoint, or new weights) or a new map method: the old map is cleared at once
        (its points are other codes), then the summary and the map are computed as this view's jobs."""
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

    def _colours(self):
        """Each drawn point's colour code, the palette and legend key of each code, labels and predictions (of the
        session the map was computed for)."""
        st = self.state
        return colouring(self.shown_[0], st.split, self.indices(), self.colour.value, st.layers())

    def point_colours(self) -> list[str]:
        """The colour each drawn point has in the page (what the mapper makes of its code)."""
        return [self.mapper.palette[int(c)] for c in self.source.data["code"]]

    def legend_keys(self) -> list[str]:
        """The legend's entries."""
        return [item.label["value"] for item in self.legend.items]

    def _legend(self, codes: np.ndarray, palette: list, keys: list) -> None:
        """The mapper's palette and one legend entry per colour present (drawn with one of its points)."""
        from bokeh.models import LegendItem

        self.mapper.update(palette=palette, low=-0.5, high=len(palette) - 0.5)
        present, first = np.unique(codes, return_index=True)
        self.legend.items = [LegendItem(label=str(keys[int(c)]), renderers=[self.glyph], index=int(i))
                             for c, i in zip(present, first)]

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
        if self.drawn_ is self.map_:  # the same points: only the colour columns go to the page, not the images
            self.source.data.update(code=codes)  # the same points, so the same model: predictions unchanged
            self._legend(codes, palette, keys)
            return
        many = len(self.map_) > HOVER_IMAGES
        tip = TOOLTIP if many else f"<img src='@image' width='56'><br>{TOOLTIP}"
        self.hover.tooltips = f"<div>{tip}</div>"
        self._legend(codes, palette, keys)
        self.source.data = {"x": self.map_[:, 0], "y": self.map_[:, 1], "code": codes, "label": y,
                            "prediction": pred, "index": self.indices(), "image": self.images()}
        self.drawn_ = self.map_
        self.state.points = self.indices()
