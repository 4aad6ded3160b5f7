"""A static, self-contained HTML page of what panels show: their texts and tables, pictures as base64 PNG, bokeh plots
as embedded documents with BokehJS inlined (no CDN, no kernel), and the choices that made them."""
from __future__ import annotations

import base64
import time

import ipywidgets as W
import numpy as np

from .._html import text
from ..models import model_name
from .snapshot import SKIPPED, is_control

STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:16px;color:#222} .box{display:flex;flex-direction:column;gap:4px}
.row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start} .choice{background:#eef3f8;border-radius:3px;
padding:1px 6px;margin:1px;font-size:90%} .lab{border-top:2px solid #ccd;margin-top:18px} img{image-rendering:pixelated}
table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:2px 6px}
</style>"""


def _value(v) -> str:
    return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def empty(model) -> bool:
    """Whether a bokeh model draws no data (a plot of a result not computed yet: left out of the report)."""
    from bokeh.models import ColumnDataSource

    def blank(source) -> bool:  # no rows, or only placeholder images of NaN (e.g. the regions map before a grid)
        images = source.data.get("image")
        if images is not None and len(images) and all(isinstance(i, np.ndarray) for i in images):
            return all(np.isnan(i.astype(float)).all() for i in images)
        return not any(len(v) for v in source.data.values())

    sources = list(model.select({"type": ColumnDataSource}))
    return bool(sources) and all(blank(s) for s in sources)


class Page:
    """The HTML of widget trees, with one script per bokeh plot; html() is the whole page."""

    def __init__(self, title: str):
        self.title, self.parts, self.plots = title, [], 0

    def add(self, fragment: str) -> None:
        """Raw HTML (already escaped) at the end of the page."""
        self.parts.append(fragment)

    def widget(self, w) -> str:
        """One widget (and all below it) as HTML."""
        if isinstance(w, SKIPPED) or isinstance(w, (W.Button, W.Output)) or \
                getattr(getattr(w, "layout", None), "display", None) == "none":
            return ""
        if isinstance(w, W.Tab):
            titles = list(getattr(w, "titles", ())) + [""] * len(w.children)
            return "".join(f"<h4>{text(t)}</h4>{self.widget(c)}" for t, c in zip(titles, w.children))
        if isinstance(w, W.Box):
            kind = "row" if isinstance(w, (W.HBox, W.GridBox)) else "box"
            grid = (f" style='display:grid;grid-template-columns:{text(w.layout.grid_template_columns)};gap:4px'"
                    if isinstance(w, W.GridBox) and w.layout.grid_template_columns else "")
            inner = "".join(self.widget(c) for c in w.children)
            return f"<div class='{kind}'{grid}>{inner}</div>" if inner else ""
        if isinstance(w, W.Image):
            if not len(w.value):
                return ""
            data = base64.b64encode(bytes(w.value)).decode()
            return f"<img src='data:image/{text(w.format)};base64,{data}' alt='picture'>"
        if isinstance(w, (W.HTML, W.HTMLMath)):
            return f"<div>{w.value}</div>" if w.value else ""  # the panels' HTML, escaped where they wrote it
        if isinstance(w, W.Label):
            return f"<span>{text(w.value)}</span>" if w.value else ""
        if is_control(w):
            name = text(w.description or type(w).__name__)
            return f"<span class='choice'><b>{name}</b>: {text(_value(w.value))}</span>"
        model = getattr(w, "_model", None)  # jupyter_bokeh's BokehModel
        return self.plot(model) if model is not None and not empty(model) else ""

    def plot(self, model) -> str:
        """A bokeh model embedded: its div and its script (BokehJS itself is inlined once in the head)."""
        import logging

        from bokeh.embed import components

        log = logging.getLogger("bokeh.embed.util")  # it warns that Python callbacks do not run in a static page:
        level, log.level = log.level, logging.ERROR  # known, and why the page shows what was drawn, frozen
        try:
            script, div = components(model)
        finally:
            log.setLevel(level)
        self.plots += 1
        return f"<div class='explorer-report-plot'>{div}</div>{script}"

    def html(self) -> str:
        """The whole page: BokehJS and its CSS inlined (INLINE resources: offline), then the parts."""
        from bokeh.resources import INLINE

        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{text(self.title)}</title>"
                f"{INLINE.render()}{STYLE}</head><body>{''.join(self.parts)}</body></html>")


def export_html(tour, path) -> str:
    """Write one static HTML page of the tour (status, every open lab's pictures, plots, tables and choices)."""
    if tour.session is None:
        raise ValueError("nothing to export yet: train a model (or show a session of your own) first")
    page = Page(f"explorer tour: {model_name(tour.session.model)} on {tour.session.data.name}")
    page.add(f"<h1>{text(page.title)}</h1><p>{tour.status.value}</p><p><small>exported "
             f"{text(time.strftime('%Y-%m-%d %H:%M'))}</small></p>")
    if tour.pickers.layout.display != "none":
        page.add(f"<div class='row'>{page.widget(tour.pickers)}</div>")
    for title, tab in zip(tour.labs, tour.tabs.children):
        if tab.children:
            page.add(f"<section class='lab'><h2>{text(title)}</h2>{page.widget(tab.children[0])}</section>")
    html = page.html()
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)
    return html
