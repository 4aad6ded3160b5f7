"""The million-point map's latency in a real browser (bench_browser.py's harness: JupyterLab, headless Chromium).

A PointMap of N points (10 Gaussian clusters, drawn by datashader in the kernel) and, from the page's event to the
picture on screen: a recolour (menu change to the changed canvas, polled every animation frame, as bench_browser
measures), a hover (first pointer move to the marker's new data in the page, plus two frames: painted) and a lasso
(mouse release to the new image in the page, plus two frames). Median and 90th percentile after warm-ups.

Run: python benchmarks/bench_bigmap.py [--points 1000000] [--steps 20] [--profile]
--profile splits each lasso: release to the kernel's handler, the handler (the exact test, the picture), its end to
the new image in the page, and on to the picture painted (clock times of the page and the kernel, one machine).
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_browser import MEASURE, frame_box, lab_page, summary  # noqa: E402

from tests.browser import conftest as harness  # noqa: E402
from tests.browser.test_bigmap_browser import CELL, SOCKET  # noqa: E402
from tests.browser.test_tour_browser import NOTEBOOK, run_all  # noqa: E402

ROOT = f"{NOTEBOOK} .explorer-pointmap"
# Resolve with the ms from the next `event` (pointermove or pointerup) to the answer's picture on screen: the kernel's
# new data in the page's source (column `column`: 'text', the hover's marker; 'image', the map) and two frames
# after it (painted). The canvas is not watched here: the lasso's outline, taken away at the release, changes it.
ARM = """
([event, column]) => { const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const has = (d, k) => d instanceof Map ? d.has(k) : (d && k in d);
  const src = Bokeh.documents.flatMap(d => [...d.all_models]).filter(m => m.type === 'ColumnDataSource'
      && has(m.data, column)).pop();
  window.__took = new Promise(res => { let t0 = null;
    window.addEventListener(event, () => { if (t0 === null) t0 = performance.now(); }, {capture: true});
    src.change.connect(async () => { if (t0 === null) return; const t1 = performance.now(); await frame();
      await frame(); window.__at = [performance.timeOrigin + t0, performance.timeOrigin + t1];
      res(performance.now() - t0); });
    setTimeout(() => res(NaN), 30000); }); }
"""


# --profile: the kernel notes when each lasso's handler starts, when its mask is known and when it ends (epoch s)
PROFILE = """
import time
from explorer.codes import lasso as _lasso
from explorer.panels.kernelmap import KernelMap
_marks, _handler, _inside = [], KernelMap._lasso, _lasso.inside
def _timed(self, event):
    _marks.append([time.time()]); _handler(self, event); _marks[-1].append(time.time())
    with open("lasso-marks.txt", "a") as f:
        f.write(" ".join(str(t) for t in _marks[-1]) + "\\n")
def _timed_inside(*a):
    out = _inside(*a); _marks[-1].append(time.time()); return out
KernelMap._lasso, _lasso.inside = _timed, _timed_inside"""


def write(nb: Path, n: int, profile: bool = False) -> None:
    source = CELL.replace("1000000", str(n)).replace("1,000,000", f"{n:,}")
    if profile:
        head, last = source.rsplit("\n", 1)
        source = f"{head}{PROFILE}\n{last}"
    (nb / "bigmap.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))


def rows(page, base: str, nb: Path, n: int, steps: int, profile: bool = False) -> tuple[list[str], list[str]]:
    write(nb, n, profile)
    if profile:
        page.add_init_script(SOCKET)  # notes when each image's frame arrives
    page.goto(harness.lab_url(base, "bigmap.ipynb"))
    start = time.perf_counter()
    run_all(page)
    page.locator(ROOT).locator(".bk-Figure").first.wait_for(timeout=600_000)  # the figure, after its first image
    page.wait_for_function(f"() => [...document.querySelectorAll('{NOTEBOOK} .jp-InputPrompt')]"
                           ".some(p => p.innerText.includes('[1]'))", timeout=600_000)  # the cell has run
    firsts = [f"| Run All to the {n:,}-point map on screen (fresh kernel: data, datashader's first compile) | "
              f"{time.perf_counter() - start:.1f} s |"]
    page.wait_for_timeout(2000)
    out = [summary(f"{n:,}-point map recolour (label / parity)", measure_recolour(page, steps))]
    plot = page.locator(ROOT).locator(".bk-Figure").first
    plot.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    f = frame_box(page, ROOT)
    f.update(w=f["w"] * 1.2, h=f["h"] * 0.9)
    hover = []
    for i in range(steps + 2):
        x = f["x"] + f["w"] * (0.2 + 0.6 * ((i * 7) % 10) / 10)
        y = f["y"] + f["h"] * (0.2 + 0.6 * ((i * 3) % 10) / 10)
        page.evaluate(ARM, ["pointermove", "text"])
        page.mouse.move(x, y, steps=1)
        ms = page.evaluate("() => window.__took")
        print(f"  hover {i}: {ms:.0f} ms", file=sys.stderr, flush=True)
        if i >= 2:
            hover.append(ms)
        page.wait_for_timeout(300)
    out.append(summary(f"{n:,}-point map hover (pointer move to the nearest point marked)", hover))
    page.locator(ROOT).locator(".bk-tool-icon-lasso-select").first.click()
    lasso, pages = [], []
    for i in range(max(3, steps // 2) + 1):
        cx, cy, r = f["x"] + f["w"] * (0.35 + 0.1 * (i % 4)), f["y"] + f["h"] * 0.5, 40 + 8 * (i % 3)
        page.mouse.move(cx + r, cy)
        page.wait_for_timeout(300)
        page.evaluate(ARM, ["pointerup", "image"])
        page.mouse.down()
        for k in range(1, 25):
            page.mouse.move(cx + r * math.cos(k * math.pi / 12), cy + r * math.sin(k * math.pi / 12))
        page.mouse.up()
        ms = page.evaluate("() => window.__took")
        print(f"  lasso {i}: {ms:.0f} ms", file=sys.stderr, flush=True)
        if i >= 1:
            lasso.append(ms)
            pages.append(page.evaluate("() => [...window.__at, window.__frames"
                                       ".filter(t => t > window.__at[0])[0]]"))
        page.wait_for_timeout(800)
    out.append(summary(f"{n:,}-point map lasso (release to the selection drawn)", lasso))
    if profile:
        out += split(nb, pages, lasso)
    return out, firsts


def split(nb: Path, pages: list, took: list) -> list[str]:
    """The profile's rows: each lasso's parts from the kernel's marks (the notebook folder's lasso-marks.txt, epoch
    seconds) and the page's (release and the image's arrival, epoch ms)."""
    marks = [[float(t) * 1000 for t in line.split()] for line in (nb / "lasso-marks.txt").read_text().splitlines()]
    parts = {"release to the kernel's handler": [], "lasso.inside": [], "the picture (highlight, sent)": [],
             "handler's end to the image's frame at the page's websocket": [],
             "that frame to the image in the page's source": [], "image in the page to painted (two frames)": []}
    for (up, data, frame), (k0, k1, k2), ms in zip(pages, marks[-len(pages):], took):
        for name, part in zip(parts, (k0 - up, k1 - k0, k2 - k1, frame - k2, data - frame, up + ms - data)):
            parts[name].append(part)
    return [summary(f"lasso part: {name}", v) for name, v in parts.items()]


def measure_recolour(page, steps: int) -> list[float]:
    out = []
    for i in range(steps + 2):
        arg = {"root": ROOT, "trigger": {"kind": "menu", "label": "colour"}, "watch": {"kind": "canvas", "nth": 0},
               "index": 0, "key": "", "value": "parity" if i % 2 == 0 else "label"}
        ms = page.evaluate(MEASURE, arg)
        print(f"  recolour {i}: {ms:.0f} ms", file=sys.stderr, flush=True)
        if i >= 2:
            out.append(ms)
        page.wait_for_timeout(300)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--profile", action="store_true", help="split each lasso into its parts")
    args = ap.parse_args()
    with lab_page() as (page, base, nb):
        table, firsts = rows(page, base, nb, args.points, args.steps, args.profile)
    print("| interaction | median ms | p90 ms | min | max | moves |\n|---|---|---|---|---|---|")
    print("\n".join(table))
    print("\n| first time | seconds |\n|---|---|")
    print("\n".join(firsts))


if __name__ == "__main__":
    main()
