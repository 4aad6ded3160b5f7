"""A million-point map in JupyterLab: drawn in the kernel, one image to the page; a recolour changes its pixels and
the server drops no message on the way (the lab_page fixture reads its log)."""
import json

import pytest

from .conftest import lab_url
from .test_labs_browser import colours, pixels
from .test_tour_browser import NOTEBOOK, run_all

pytestmark = pytest.mark.browser

N = 1_000_000
# the page's websocket: the bytes it sends the kernel (jupyter_bokeh sent each patch of the kernel's back, gzipped:
# bokehjs.NO_ECHO) and when each large frame (an image's buffer) arrives (bench_bigmap.py --profile)
SOCKET = """
(() => { const Native = window.WebSocket; window.__sent = 0; window.__frames = [];
  window.WebSocket = function (...a) { const ws = new Native(...a), send = ws.send.bind(ws);
    ws.send = d => { window.__sent += d.byteLength || d.length || 0; return send(d); };
    ws.addEventListener('message', e => { if ((e.data.byteLength || e.data.size || e.data.length || 0) > 100000)
      window.__frames.push(performance.timeOrigin + performance.now()); });
    return ws; };
  window.WebSocket.prototype = Native.prototype; Object.assign(window.WebSocket, Native); })();
"""
CELL = f"""\
import numpy as np
from explorer.panels.pointmap import PointMap

rng = np.random.default_rng(0)
label = rng.integers(0, 10, {N})
xy = rng.normal(0, 4, (10, 2))[label] + rng.normal(0, 1, ({N}, 2))
PointMap(xy, {{"label": label, "parity": label % 2}}, title="{N:,} points")"""


def notebook(folder, name: str = "bigmap.ipynb") -> str:
    (folder / name).write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return name


def test_million_point_map_draws_and_recolours(lab_server, notebook_dir, lab_page):
    page = lab_page
    page.add_init_script(SOCKET)
    page.goto(lab_url(lab_server, notebook(notebook_dir)))
    run_all(page)
    root = page.locator(f"{NOTEBOOK} .explorer-pointmap")
    plot = root.locator(".bk-Figure").first
    plot.wait_for(timeout=120_000)
    for _ in range(60):  # the ten clusters' colours on screen (the title, on the canvas, is checked headless)
        if len(colours(plot, 0.002)) >= 8:
            break
        page.wait_for_timeout(500)
    assert len(colours(plot, 0.002)) >= 8, colours(plot, 0.002)
    before, sent = pixels(plot), page.evaluate("() => window.__sent")
    root.locator(".widget-dropdown select").select_option("parity")
    for _ in range(120):
        page.wait_for_timeout(250)
        if pixels(plot) != before:
            break
    assert pixels(plot) != before, "a recolour did not change the map's pixels"
    page.wait_for_timeout(1000)
    # the menu's change and the page's own events, not the new 576 KB picture sent back (gzipped: 103 KB)
    assert page.evaluate("() => window.__sent") - sent < 10_000, page.evaluate("() => window.__sent") - sent
    assert not root.locator(".explorer-error:visible").count()
    assert not page.console.errors, page.console.errors
