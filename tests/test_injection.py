"""Class, layer, model and dataset names are shown as text: a name holding HTML runs nothing (issue 22.5).

Every lab is built and its main results computed on a session named with payloads; then every widget the page
would render as HTML (ipywidgets' HTML, HTMLMath, descriptions that allow HTML) and every bokeh model's HTML
(hover templates, Div text) is checked for a live tag. Text widgets (Label, Dropdown options, Button and tab
titles) show strings as text, and bokeh escapes `@column` values and draws legends, axes and titles on a canvas."""
from collections import OrderedDict

import pytest
import torch
from torch import nn

pytest.importorskip("jupyter_bokeh")

PAYLOADS = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>",
            "<svg onload=alert(3)>", "<b onmouseover=alert(4)>x</b>", "a&b<i>", "<iframe srcdoc='<p>'>",
            "<img src=x onerror=alert(6)>", "<style>*{display:none}</style>", "<a href=javascript:alert(8)>",
            '"><img src=x onerror=alert(9)>']


def live(html: str) -> list[str]:
    """The elements of html that would run or restyle something: script-like tags, on* handlers, javascript: links
    (the page's own markup has none; an unescaped payload has one)."""
    from html.parser import HTMLParser

    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if (tag in ("script", "svg", "iframe", "style", "object", "embed")
                    or any(a.startswith("on") for a, _ in attrs)
                    or any((v or "").strip().lower().startswith("javascript:") for _, v in attrs)):
                found.append(f"<{tag} {attrs}>")

    Tags().feed(html)
    return found


def payload_model(n_classes: int) -> nn.Module:
    """A small CNN whose class and module names are payloads (module names may hold anything but '.')."""
    torch.manual_seed(0)
    cls = type("<img src=x onerror=alert(10)>", (nn.Sequential,), {})
    return cls(OrderedDict([
        ("<img src=x onerror=alert(11)>", nn.Conv2d(1, 4, 3, padding=1)), ("<script>alert(12)</script>", nn.ReLU()),
        ("<svg onload=alert(13)>", nn.Conv2d(4, 6, 3, padding=1)), ("<b onmouseover=alert(14)>", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(2)), ("flatten", nn.Flatten()), ("<iframe>", nn.Linear(24, n_classes))]))


@pytest.fixture(scope="module")
def session(digits):
    from explorer import Session, from_arrays

    n = 200
    data = from_arrays(digits.x["train"][:n], digits.y["train"][:n], digits.x["test"][:n], digits.y["test"][:n],
                       classes=PAYLOADS, name="<img src=x onerror=alert(15)>")
    s = Session.open(data, payload_model(len(PAYLOADS)), device="cpu")
    s.train(epochs=2, seed=0)
    return s


def html_values(root) -> list[tuple[str, str]]:
    """(where, HTML) of everything under root that the page renders as HTML: widget values and descriptions, and
    the HTML of bokeh models (hover templates and labels, Div/Paragraph text, titles of tables)."""
    import ipywidgets as W
    from bokeh.models import HoverTool
    from jupyter_bokeh import BokehModel

    out, seen, stack = [], set(), [root]
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        name = type(w).__name__
        if isinstance(w, (W.HTML, W.HTMLMath)):
            out.append((name, w.value))
        if getattr(w, "description_allow_html", False):
            out.append((f"{name}.description", w.description))
        if isinstance(w, BokehModel):
            for m in w._model.references():
                if isinstance(m, HoverTool):
                    tips = m.tooltips
                    if isinstance(tips, str):
                        out.append(("HoverTool", tips))
                    elif tips is not None:  # (label, template): bokeh escapes @values unless {safe}
                        out.extend(("HoverTool", f"{label} {field}") for label, field in tips)
                        assert not any("{safe}" in field for _, field in tips)
                if hasattr(m, "text") and type(m).__name__ in ("Div", "Paragraph", "PreText"):
                    out.append((type(m).__name__, m.text))
        for key in getattr(w, "keys", ()):
            value = getattr(w, key, None)
            stack.extend(v for v in (value if isinstance(value, (list, tuple)) else (value,))
                         if isinstance(v, W.Widget))
    return out


def compute_everything(tour) -> None:
    """Build every lab tab and run its views' results (jobs run here and now outside a kernel)."""
    for i in range(len(tour.tabs.children)):
        tour.tabs.selected_index = i
    panels = {type(p.children[0]).__name__: p.children[0] for p in tour.tabs.children}
    sal = panels["SaliencyPanel"]
    sal.ranking.eval_n.value = 4
    sal.ranking.evaluate()
    sal.trust.trust_n.value = 2
    sal.trust.sanity()
    codes = panels["CodesPanel"]
    codes.maps.source.selected.indices = [0, 1, 2, 3]
    codes.tables.categorize()
    codes.complexity.local_complexity()
    land = panels["LandscapePanel"]
    land.slices.resolution.value = 7
    land.slices.recompute()
    land.live.recompute()
    land.path.interpolate()
    geo = panels["GeometryPanel"]
    geo.linear.recompute()
    geo.regions.resolution.value = 50
    geo.regions.recompute()
    geo.regions.select(0.0, 0.0)
    geo.similarity.recompute()
    geo.collapse.recompute()
    geo.features.show_top()
    return panels


def test_names_with_html_are_shown_as_text(session):
    from explorer.app import Tour

    tour = Tour(device="cpu")
    tour.use(session)
    panels = compute_everything(tour)
    errors = [(k, p.error.value) for k, p in panels.items() if p.error.value]
    assert not errors, errors  # every view above ran (else its HTML would not be checked)
    from explorer.panels._common import STYLE

    values = html_values(tour)  # the labs' own constant stylesheet (greying old views) holds no user text
    bad = [(where, live(v)) for where, v in values if live(v) and v != STYLE]
    assert not bad, bad
    shown = " ".join(v for _, v in values)
    # the names did reach the page, escaped: class names, a layer name, the model's and the data's names
    for name in (PAYLOADS[0], "<script>alert(12)</script>", "<img src=x onerror=alert(10)>",
                 "<img src=x onerror=alert(15)>"):
        assert name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in shown


def test_table_and_error_line_escape():
    from explorer.panels._common import ErrorLine
    from explorer.table import Table

    html = Table([{PAYLOADS[0]: PAYLOADS[1], "x": 0.5}]).to_html()
    assert not live(html) and "&lt;img" in html and "&lt;script&gt;" in html
    line = ErrorLine()
    line.show(ValueError(PAYLOADS[9]))
    assert not live(line.value) and "&quot;&gt;&lt;img" in line.value
