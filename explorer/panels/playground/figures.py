"""The playground's bokeh figure: the exact decision map (each class's part of each region), the region edges, the
decision boundary in black, and the points (train as circles, test as triangles)."""
from __future__ import annotations

import numpy as np

from ..landscape.figures import figure


def ragged(polys, axis: int, span: float) -> list[list[float]]:
    """One coordinate of each polygon or segment as plain lists, rounded to 1e-5 of the plot's span (far below a
    pixel). Not arrays: bokeh sends every array of a ragged column as its own buffer and jupyter_bokeh each buffer as
    two comm messages, so one snapshot of 300 regions was 2,700 messages, over the Jupyter server's IOPub limit
    (1,000 a second): the server then drops messages and the page silently stops showing the training."""
    digits = max(0, int(-np.floor(np.log10(max(span, 1e-12) * 1e-5))))
    return [np.round(p[:, axis], digits).tolist() for p in polys]


def palette(k: int) -> list[str]:
    """One colour a class."""
    from bokeh.palettes import Category10_10, turbo

    return list(Category10_10[:max(k, 2)]) if k <= 10 else list(turbo(k))


class RegionPlot:
    """The figure and its sources; draw(snapshot) replaces the map in place, show_points the data."""

    def __init__(self):
        from bokeh.models import ColumnDataSource, Range1d

        fig = figure("exact linear regions and decision boundary", "x1", "x2", x_range=Range1d(0, 1),
                     y_range=Range1d(0, 1))
        fig.width, fig.height = 460, 460
        self.pieces = ColumnDataSource({"xs": [], "ys": [], "colour": []})
        self.edges = ColumnDataSource({"xs": [], "ys": []})
        self.boundary = ColumnDataSource({"xs": [], "ys": []})
        self.points = ColumnDataSource({"x": [], "y": [], "colour": [], "marker": []})
        fig.patches("xs", "ys", source=self.pieces, fill_color="colour", fill_alpha=0.35, line_color=None)
        fig.patches("xs", "ys", source=self.edges, fill_color=None, line_color="#555555", line_width=0.6,
                    line_alpha=0.6)
        fig.multi_line("xs", "ys", source=self.boundary, line_color="black", line_width=3)
        fig.scatter("x", "y", source=self.points, marker="marker", fill_color="colour", line_color="black", size=7)
        self.figure = fig

    def show_points(self, x: np.ndarray, y: np.ndarray, test: np.ndarray, n_classes: int) -> None:
        """The data points (x (N, 2), labels y, test (N,) bool) in their class colours."""
        colours = np.array(palette(n_classes))[y]
        self.points.data = {"x": x[:, 0], "y": x[:, 1], "colour": list(colours),
                            "marker": ["triangle" if t else "circle" for t in test]}

    def draw(self, snap, n_classes: int) -> None:
        """The snapshot's decision map, region edges and decision boundary; the view fitted to its box."""
        u0, u1, v0, v1 = snap.regions.bounds
        self.figure.x_range.update(start=u0, end=u1)
        self.figure.y_range.update(start=v0, end=v1)
        colours = palette(n_classes)
        span = max(u1 - u0, v1 - v0)
        self.pieces.data = {"xs": ragged(snap.pieces, 0, span), "ys": ragged(snap.pieces, 1, span),
                            "colour": [colours[c] for c in snap.classes]}
        self.edges.data = {"xs": ragged(snap.regions.polygons, 0, span), "ys": ragged(snap.regions.polygons, 1, span)}
        self.boundary.data = {"xs": ragged(snap.boundary, 0, span), "ys": ragged(snap.boundary, 1, span)}
