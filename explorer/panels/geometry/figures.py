"""The geometry lab's figures: the regions view's bokeh map of a plane's grid, coloured by region or by predicted
class, the decision boundary over it, the three inputs as white dots, and its words (legend, summary)."""
from __future__ import annotations

import numpy as np

from ..._html import text
from ..landscape.figures import figure

# the span of the grid as a share of the three inputs' box (about its centre). On the tour's digits CNN (15 epochs,
# seed 0, inputs 0, 1, 2, first ReLU, 100² cells) the whole box has 7,307 regions (77% one cell: not resolved), 1/10
# 1,893 (5 cells a region), 1/30 277 (36 cells a region, two classes), 1/100 30; a 12-unit MLP's whole box has a few
# dozen: "auto" takes the widest span whose grid shows the regions (geometry.widest_regions)
ZOOMS = (("auto: widest that shows regions", "auto"), ("the three inputs", 1.0), ("1/3 of it", 1 / 3),
         ("1/10", 0.1), ("1/30", 1 / 30), ("1/100", 0.01))
ZOOM = "auto"


class RegionMap:
    """The bokeh figure and its sources; draw() puts a GridRegions on it, by region or by class."""

    def __init__(self):
        from bokeh.models import ColumnDataSource, LinearColorMapper, Range1d, TapTool

        self.mapper = LinearColorMapper(palette="Turbo256", nan_color=(0, 0, 0, 0))
        empty = {"image": [np.full((1, 1), np.nan)], "x": [0.0], "y": [0.0], "dw": [1.0], "dh": [1.0]}
        self.map_source, self.edge_source = ColumnDataSource(dict(empty)), ColumnDataSource(dict(empty))
        self.anchors = ColumnDataSource({"x": [], "y": []})
        self.marker = ColumnDataSource({"x": [], "y": []})
        edges = LinearColorMapper(palette=["black"], low=0, high=1, nan_color=(0, 0, 0, 0))
        fig = figure("pattern regions on the plane", "u", "v", x_range=Range1d(0, 1), y_range=Range1d(0, 1))
        fig.width, fig.height = 420, 420
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.map_source, color_mapper=self.mapper)
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.edge_source, color_mapper=edges)
        fig.scatter("x", "y", source=self.anchors, size=12, color="white", line_color="black", line_width=2)
        fig.scatter("x", "y", source=self.marker, marker="x", size=14, line_width=3, color="red")
        fig.add_tools(TapTool())
        self.figure = fig

    def draw(self, r, colour: str, n_classes: int) -> None:
        """Cells by region id (shuffled, so neighbours differ) or by predicted class (one colour a class); the
        decision boundary in black; the view fitted to the grid (inputs outside a zoomed grid are not shown)."""
        if colour == "regions":
            img = np.random.default_rng(0).permutation(r.count)[r.ids].astype(float)
            self.mapper.palette, self.mapper.low, self.mapper.high = "Turbo256", 0, max(r.count - 1, 1)
        else:  # class k in the middle of colour k's bin
            img = r.predicted.astype(float)
            self.mapper.palette = class_palette(n_classes)
            self.mapper.low, self.mapper.high = -0.5, n_classes - 0.5
        (du, dv), (x0, x1), (y0, y1) = cell(r), (r.u.min(), r.u.max()), (r.v.min(), r.v.max())
        x0, x1, y0, y1 = x0 - du / 2, x1 + du / 2, y0 - dv / 2, y1 + dv / 2  # cell edges, not centres
        geo = {"x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}
        self.figure.x_range.update(start=x0, end=x1)
        self.figure.y_range.update(start=y0, end=y1)
        self.map_source.data = {"image": [np.ascontiguousarray(img)], **geo}  # rows of u, v grids are v
        self.edge_source.data = {"image": [np.where(r.decision, 1.0, np.nan)], **geo}
        self.anchors.data = {"x": r.anchors[:, 0], "y": r.anchors[:, 1]}


def cell(r) -> tuple[float, float]:
    """A grid cell's width and height."""
    du = float(r.u[0, 1] - r.u[0, 0]) if r.u.shape[1] > 1 else 1.0
    dv = float(r.v[1, 0] - r.v[0, 0]) if r.v.shape[0] > 1 else 1.0
    return du, dv


def class_palette(k: int) -> list[str]:
    """k colours, one a class: Category10 up to ten classes, Turbo beyond."""
    from bokeh.palettes import Category10_10, turbo

    return list(Category10_10[:max(k, 1)]) if k <= 10 else list(turbo(k))


def class_legend(r, classes) -> str:
    """The classes predicted on the grid, each with its colour and share of the cells."""
    counts = np.bincount(r.predicted.ravel(), minlength=len(classes))
    palette = class_palette(len(classes))
    items = [f"<span style='display:inline-block;width:12px;height:12px;background:{palette[c]};"
             f"vertical-align:middle'></span> {text(classes[c])} {n / counts.sum():.0%}"
             for c, n in enumerate(counts) if n]
    return ("<div class='explorer-legend'>predicted class per cell: " + " &nbsp; ".join(items)
            + "<br>black lines: the decision boundary</div>")


def summary(r, idx, layer: str, box) -> str:
    """The count (a lower bound), cells per region, whether the grid resolves them, the span (a share of `box`, the
    three inputs' (u0, u1, v0, v1)), where the three inputs are."""
    n, cells, side = r.count, r.ids.size, r.u.shape[0]
    share = (r.u.max() - r.u.min() + cell(r)[0]) / (box[1] - box[0])
    head = (f"<b>{n:,} regions</b> on the {side}² grid (layers {text(layer)}, span "
            f"{'the three inputs' if share > 0.99 else f'1/{1 / share:.0f} of theirs'}), {cells / n:.1f} cells a "
            f"region on average (a lower bound: regions smaller than a cell are missed)")
    if not r.resolved:
        head += (f"<br><b class='explorer-coarse'>{n:,} regions in {cells:,} cells: the grid cannot resolve them"
                 "</b> (most regions are one cell); zoom in or pick fewer layers")
    du, dv = cell(r)
    inside = [(name, i) for name, i, (u, v) in zip("ABC", idx, r.anchors)
              if r.u.min() - du / 2 <= u <= r.u.max() + du / 2 and r.v.min() - dv / 2 <= v <= r.v.max() + dv / 2]
    names = ", ".join(f"{n} #{i}" for n, i in zip("ABC", idx))
    if len(inside) == len(idx):
        return head + f"<br>white dots: the inputs {names}"
    return head + (f"<br>the view is around the middle of the inputs {names}"
                   + (f"; white dots: {', '.join(f'{n} #{i}' for n, i in inside)}" if inside else
                      " (they lie outside it: span 'the three inputs' shows them)"))
