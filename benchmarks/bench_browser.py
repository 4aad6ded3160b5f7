"""Slider-to-screen latency in a real browser: JupyterLab on the tour, Debian's Chromium (headless) via Playwright.

For each interaction, the time from the input event (a key on a slider handle, a change on a menu) to the changed
picture on screen: a new overlay <img> decoded and painted, or a bokeh canvas whose pixels changed (polled every
animation frame). Median and 90th percentile over --steps moves, after two warm-up moves.

With --big-map N, instead of the tour: a codes map of N points (N noisy copies of the digits test images, a CNN
trained 3 epochs; PCA, all N drawn, WebGL output) and the latency of its recolour (menu change to changed canvas),
its hover (pointer move to the tooltip on screen) and a lasso (mouse release to the selection drawn).

Run: python benchmarks/bench_browser.py [--steps 20] [--big-map 50000]
"""
import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import conftest as harness  # noqa: E402  (the test harness: server, Chromium flags)
from tests.browser.test_labs_browser import open_tab  # noqa: E402
from tests.browser.test_tour_browser import NOTEBOOK, run_all, trained  # noqa: E402

# Trigger an input event and resolve with the milliseconds until the watched picture changed on screen.
MEASURE = """
async ({root, trigger, watch, index, key, value}) => {
  const panel = document.querySelector(root);
  // bokeh draws inside shadow roots: walk them (querySelectorAll does not)
  const all = (el, test) => { const out = []; const walk = n => { if (n.shadowRoot) walk(n.shadowRoot);
      for (const c of n.children || []) { if (test(c)) out.push(c); walk(c); } }; walk(el); return out; };
  const canvases = el => all(el, c => c.tagName === 'CANVAS');
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  let changed;
  if (watch.kind === 'img') {
    const img = panel.querySelectorAll('img')[watch.nth];
    changed = new Promise(res => { const obs = new MutationObserver(async () => { obs.disconnect();
        await img.decode().catch(() => {}); await frame(); await frame(); res(performance.now()); });
        obs.observe(img, {attributes: true, attributeFilter: ['src']});
        setTimeout(() => { obs.disconnect(); res(NaN); }, 15000); });
  } else {
    const fig = all(panel, c => c.classList && c.classList.contains('bk-Figure'))[watch.nth];
    const sig = () => canvases(fig).map(c => c.toDataURL()).join('|');
    const before = sig();
    changed = new Promise(async res => { for (let i = 0; i < 3000; i++) { await frame();
        if (sig() !== before) return res(performance.now()); } res(NaN); });
  }
  const t0 = performance.now();
  if (trigger.kind === 'key') {
    const h = panel.querySelectorAll('.widget-hslider')[index].querySelector('.noUi-handle');
    h.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
  } else if (trigger.kind === 'click') {  // the last and the first thumbnail of the page in turn: a new image
    const bs = [...panel.querySelectorAll(trigger.selector)];
    (value === 'first' ? bs[0] : bs[bs.length - 1]).click();
  } else {
    const s = [...panel.querySelectorAll('.widget-dropdown')].find(d => d.innerText.includes(trigger.label))
      .querySelector('select');
    s.value = value; s.dispatchEvent(new Event('change', {bubbles: true}));
  }
  return (await changed) - t0;
}
"""


def slider_index(page, root: str, label: str) -> int:
    """Position of the slider labelled `label` among the panel's sliders."""
    return page.evaluate("([root, label]) => [...document.querySelector(root).querySelectorAll('.widget-hslider')]"
                         ".findIndex(s => s.innerText.trim().startsWith(label))", [root, label])


def measure(page, steps: int, root: str, trigger: dict, watch: dict, moves) -> list[float]:
    """Latencies (ms) of `steps` moves after two warm-ups; moves(i) gives the key or menu value of move i."""
    out = []
    for i in range(steps + 2):
        m = moves(i)
        arg = {"root": root, "trigger": trigger, "watch": watch, "index": trigger.get("index", 0),
               "key": m if trigger["kind"] == "key" else "", "value": m if trigger["kind"] in ("menu", "click") else ""}
        ms = page.evaluate(MEASURE, arg)
        print(f"  move {i}: {ms:.0f} ms", file=sys.stderr, flush=True)
        if ms != ms:
            page.screenshot(path="/tmp/bb-nan.png")
            print(page.evaluate(f"() => document.querySelector('{root}').innerText.slice(0, 800)"), file=sys.stderr)
        if i >= 2:
            out.append(ms)
        page.wait_for_timeout(300)  # let the kernel go idle between moves
    return out


def summary(name: str, ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=10)
    return f"| {name} | {statistics.median(ms):.0f} | {q[-1]:.0f} | {min(ms):.0f} | {max(ms):.0f} | {len(ms)} |"


# The big map's notebook: one cell, a session of N test images and the codes panel drawing all of them.
BIG_MAP_CELL = """\
import numpy as np
from explorer import Session
from explorer.data import digits, from_arrays
from explorer.panels.codes import CodesPanel

n, rng, d = {n}, np.random.default_rng(0), digits()
x, y = d.images("test").numpy(), d.labels("test").numpy()
pick = rng.integers(0, len(x), n)
noisy = np.clip(x[pick] + rng.normal(0, 0.08, (n, *x.shape[1:])), 0, 1).astype(np.float32)
data = from_arrays(d.images("train"), d.labels("train"), noisy, y[pick], classes=d.classes, name=f"digits x{{n}}")
panel = CodesPanel(Session.open(data, "cnn", epochs=3, seed=0), max_points=n)
panel"""

# Resolve with the milliseconds from the next pointer event to the hover tooltip shown (bokeh adds it to the page).
ARM_HOVER = """
() => { const all = (el, test) => { const out = []; const walk = n => { if (n.shadowRoot) walk(n.shadowRoot);
      for (const c of n.children || []) { if (test(c)) out.push(c); walk(c); } }; walk(el); return out; };
  const shown = () => all(document.body, c => c.classList && c.classList.contains('bk-Tooltip'))
      .some(t => (t.shadowRoot || t).textContent.includes('predicted'));
  const armed = performance.now();  // no pointer event within 15 s is a miss too, not a hang
  window.__hover = new Promise(res => { let t0 = null;
    window.addEventListener('pointermove', () => { if (t0 === null) t0 = performance.now(); }, {capture: true});
    const poll = () => { if (t0 !== null && shown()) return res(performance.now() - t0);
      if (performance.now() - (t0 === null ? armed : t0) > 15000) return res(NaN); requestAnimationFrame(poll); };
    requestAnimationFrame(poll); });
  return shown(); }
"""

# Resolve with the milliseconds from the next mouse release to the canvas's pixels changing (the selection drawn).
ARM_CANVAS = """
(root) => { const all = (el, test) => { const out = []; const walk = n => { if (n.shadowRoot) walk(n.shadowRoot);
      for (const c of n.children || []) { if (test(c)) out.push(c); walk(c); } }; walk(el); return out; };
  const fig = all(document.querySelector(root), c => c.classList && c.classList.contains('bk-Figure'))[0];
  const sig = () => all(fig, c => c.tagName === 'CANVAS').map(c => c.toDataURL()).join('|');
  const before = sig();
  window.__changed = new Promise(res => { let t0 = null;
    window.addEventListener('pointerup', () => { t0 = performance.now(); }, {capture: true, once: true});
    const poll = () => { if (t0 !== null && sig() !== before) return res(performance.now() - t0);
      if (t0 !== null && performance.now() - t0 > 30000) return res(NaN); requestAnimationFrame(poll); };
    requestAnimationFrame(poll); }); }
"""


def frame_box(page, root: str) -> dict:
    """The plot's data frame on screen (bokeh's canvas minus the axes and the legend), from the page's layout."""
    box = page.locator(root).locator(".bk-Figure").first.bounding_box()
    # the figure is 560 x 440 with the legend on the right: keep to the middle of the data area
    return {"x": box["x"] + 60, "y": box["y"] + 40, "w": 300, "h": 330}


def tour_rows(page, base: str, steps: int) -> tuple[list[str], list[str]]:
    """The tour on the default model: overlay, saliency recompute, landscape marker, map recolour, first UMAP."""
    rows, firsts = [], []
    page.goto(harness.lab_url(base, "00_tour.ipynb"))
    page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    start = time.perf_counter()  # a fresh kernel: first imports, training, the gallery
    trained(page)
    firsts.append(f"| Run All to the accuracy on screen (fresh kernel) | {time.perf_counter() - start:.1f} s |")

    sal = ".jp-NotebookPanel:not(.lm-mod-hidden) .explorer-saliency"
    open_tab(page, "Saliency")
    page.locator(sal).locator("img").nth(8).wait_for(timeout=60_000)
    alpha = slider_index(page, sal, "alpha")
    lr = lambda i: "ArrowLeft" if i % 2 else "ArrowRight"  # noqa: E731
    rows.append(summary("overlay alpha (cached redraw)", measure(
        page, steps, sal, {"kind": "key", "index": alpha}, {"kind": "img", "nth": 8}, lr)))
    rows.append(summary("saliency recompute (a new image: map, gallery, 3 x 3 compare grid)", measure(
        page, steps, sal, {"kind": "click", "selector": "button[title^='image ']"},
        {"kind": "img", "nth": 8}, lambda i: "first" if i % 2 else "last")))

    land = ".jp-NotebookPanel:not(.lm-mod-hidden) .explorer-landscape"
    open_tab(page, "Loss landscape")
    page.locator(land).wait_for(timeout=60_000)
    page.locator(land).locator(".widget-dropdown", has_text="points").locator("select").select_option("11")
    page.locator(land).locator("button", has_text="compute slice").click()
    page.wait_for_function(f"() => document.querySelector('{land}').innerText.includes('121/121')",
                           timeout=120_000)
    a = slider_index(page, land, "α")
    rows.append(summary("landscape marker move (α)", measure(
        page, steps, land, {"kind": "key", "index": a}, {"kind": "canvas", "nth": 0}, lr)))

    codes = ".jp-NotebookPanel:not(.lm-mod-hidden) .explorer-codes"
    open_tab(page, "Neural codes")
    page.locator(codes).locator(".bk-Figure").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    rows.append(summary("codes map recolour (label / correct)", measure(
        page, steps, codes, {"kind": "menu", "label": "colour"}, {"kind": "canvas", "nth": 0},
        lambda i: "correct" if i % 2 == 0 else "label")))
    start = time.perf_counter()  # the first UMAP of this kernel (numba's compile, unless cached on disk)
    page.locator(codes).locator(".widget-dropdown", has_text="map").locator("select").select_option("UMAP")
    page.wait_for_function(f"() => document.querySelector('{codes}').innerText.includes('computing the UMAP')",
                           timeout=30_000)
    page.wait_for_function(f"() => !document.querySelector('{codes}').innerText.includes('computing')",
                           timeout=300_000)
    firsts.append(f"| choosing UMAP to the map on screen (first UMAP of the kernel) | "
                  f"{time.perf_counter() - start:.1f} s |")
    return rows, firsts


def write_big_map(nb: Path, n: int) -> None:
    """The one-cell notebook big_map.ipynb in nb: an n-point codes map."""
    (nb / "big_map.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": BIG_MAP_CELL.format(n=n)}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))


@contextlib.contextmanager
def lab_page():
    """(page, base URL, notebook folder): JupyterLab on a copy of the notebooks and a headless Chromium page."""
    from playwright.sync_api import sync_playwright

    from explorer.cli import copy_notebooks

    tmp = Path(tempfile.mkdtemp())
    nb = tmp / "nb"
    copy_notebooks(nb)
    port = harness._free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={harness.TOKEN}", f"--ServerApp.root_dir={nb}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    proc, fh = harness._serve(cmd, tmp, f"{base}/api/status?token={harness.TOKEN}", nb)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=harness.CHROMIUM, headless=True, args=harness.FLAGS)
            yield browser.new_page(viewport={"width": 1400, "height": 1000}), base, nb
            browser.close()
    finally:
        proc.terminate()
        fh.close()


def big_map_rows(page, base: str, nb: Path, n: int, steps: int) -> tuple[list[str], list[str]]:
    """The N-point map: its first drawing, then recolour, hover and lasso latencies."""
    write_big_map(nb, n)
    page.goto(harness.lab_url(base, "big_map.ipynb"))
    codes = f"{NOTEBOOK} .explorer-codes"
    start = time.perf_counter()
    run_all(page)
    page.locator(codes).locator(".bk-Figure").first.wait_for(timeout=600_000)
    page.wait_for_function(f"() => document.querySelector('{codes}').innerText.includes('bits')", timeout=600_000)
    page.wait_for_function(f"() => !document.querySelector('{codes}').innerText.includes('computing')",
                           timeout=600_000)
    page.wait_for_timeout(3000)
    took = time.perf_counter() - start
    firsts = [f"| Run All to the {n:,}-point map's panel on screen (fresh kernel) | {took:.1f} s |"]
    rows = [summary(f"{n:,}-point map recolour (label / correct)", measure(
        page, steps, codes, {"kind": "menu", "label": "colour"}, {"kind": "canvas", "nth": 0},
        lambda i: "correct" if i % 2 == 0 else "label"))]
    page.locator(codes).locator(".bk-Figure").first.scroll_into_view_if_needed()  # pointer events need it on screen
    page.wait_for_timeout(500)
    f = frame_box(page, codes)
    hover = []
    for i in range(steps + 2):
        page.mouse.move(f["x"] - 50, f["y"] - 30)  # off the plot: the tooltip goes
        page.wait_for_timeout(400)
        page.evaluate(ARM_HOVER)
        x = f["x"] + f["w"] * (0.3 + 0.4 * ((i * 7) % 10) / 10)
        y = f["y"] + f["h"] * (0.3 + 0.4 * ((i * 3) % 10) / 10)
        page.mouse.move(x, y, steps=2)
        ms = page.evaluate("() => window.__hover")
        print(f"  hover {i}: {ms:.0f} ms", file=sys.stderr, flush=True)
        if i >= 2:
            hover.append(ms)
    rows.append(summary(f"{n:,}-point map hover (tooltip with the image shown)", hover))
    page.mouse.move(f["x"] - 50, f["y"] - 30)
    page.locator(codes).locator(".bk-tool-icon-lasso-select").first.click()
    lasso = []
    for i in range(max(3, steps // 4) + 1):
        page.evaluate(ARM_CANVAS, codes)
        cx, cy, r = f["x"] + f["w"] * (0.4 + 0.05 * (i % 4)), f["y"] + f["h"] * 0.5, 40 + 5 * (i % 3)
        page.mouse.move(cx + r, cy)
        page.mouse.down()
        for k in range(1, 25):
            page.mouse.move(cx + r * math.cos(k * math.pi / 12), cy + r * math.sin(k * math.pi / 12))
        page.mouse.up()
        ms = page.evaluate("() => window.__changed")
        print(f"  lasso {i}: {ms:.0f} ms", file=sys.stderr, flush=True)
        if i >= 1:
            lasso.append(ms)
        page.wait_for_timeout(1500)  # the selection's images come back from the kernel
    rows.append(summary(f"{n:,}-point map lasso (release to the selection drawn)", lasso))
    return rows, firsts


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--big-map", type=int, default=0, metavar="N", help="time a codes map of N points instead")
    args = ap.parse_args()
    with lab_page() as (page, base, nb):
        if args.big_map:
            rows, firsts = big_map_rows(page, base, nb, args.big_map, args.steps)
        else:
            rows, firsts = tour_rows(page, base, args.steps)
    print("| interaction | median ms | p90 ms | min | max | moves |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| first time | seconds |\n|---|---|")
    print("\n".join(firsts))


if __name__ == "__main__":
    main()
