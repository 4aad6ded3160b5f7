"""Small bokeh figures for the landscape views (bokeh imported only when a panel is built)."""
from __future__ import annotations


def figure(title, x_label, y_label, **kw):
    """A small bokeh figure."""
    from bokeh.plotting import figure as bokeh_figure
    return bokeh_figure(**{"width": 380, "height": 300, "toolbar_location": None, **kw}, title=title,
                        x_axis_label=x_label, y_axis_label=y_label)


def view(fig):
    """A bokeh figure as a widget (BokehJS from the page's extension, else INLINE: works offline)."""
    from ..bokehjs import view as plot

    return plot(fig)
