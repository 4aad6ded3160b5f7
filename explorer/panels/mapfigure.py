"""The kernel-drawn map's bokeh figure (KernelMap's): one RGBA image of the points, a hover marker with its text, a
legend of swatches never drawn, pan, wheel zoom and a lasso that sends its polygon once, on release."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ._common import load_bokeh


def map_figure(width: int, height: int, title: str) -> SimpleNamespace:
    """fig and its sources and models: image (the picture), mark (the hovered point), keys and swatch (the legend's
    colours), legend."""
    from bokeh.models import ColumnDataSource, LassoSelectTool, Legend, Range1d
    from bokeh.plotting import figure

    load_bokeh()
    fig = figure(frame_width=width, frame_height=height, tools="pan,wheel_zoom,reset",
                 x_range=Range1d(0, 1), y_range=Range1d(0, 1), title=title)
    image = ColumnDataSource({"image": [np.zeros((1, 1), np.uint32)], "x": [0], "y": [0], "dw": [1], "dh": [1]})
    fig.image_rgba("image", "x", "y", "dw", "dh", source=image)
    mark = ColumnDataSource({"x": [], "y": [], "text": []})  # the hovered point and what it is
    dot = fig.scatter("x", "y", source=mark, size=11, fill_alpha=0, line_color="black", line_width=2)
    fig.text("x", "y", "text", source=mark, x_offset=9, y_offset=-6, text_font_size="9pt",
             background_fill_color="white", background_fill_alpha=0.85)
    keys = ColumnDataSource({"x": [], "y": [], "color": []})  # never drawn (NaN): the legend's swatches
    swatch = fig.scatter("x", "y", color="color", source=keys, size=8)
    legend = Legend(items=[], label_text_font_size="9pt")
    fig.add_layout(legend, "right")
    # its polygon comes as one event on release (continuous: an event per mouse move, each a kernel round trip)
    fig.add_tools(LassoSelectTool(renderers=[dot], continuous=False))
    return SimpleNamespace(fig=fig, image=image, mark=mark, keys=keys, swatch=swatch, legend=legend)


def legend(parts, codes, palette, names) -> None:
    """One legend entry per colour present (parts: map_figure's, or an object with its keys, legend, swatch)."""
    from bokeh.models import LegendItem

    present = np.flatnonzero(np.bincount(codes, minlength=len(palette)))
    nan = [float("nan")] * len(palette)
    parts.keys.data = {"x": nan, "y": nan, "color": list(palette)}
    parts.legend.items = [LegendItem(label=str(names[int(c)]), renderers=[parts.swatch], index=int(c))
                          for c in present]
