"""Lost-update check for the codes map: bursts of rapid recolours, then the page must show the last one.

An N-point map (the bench's --big-map notebook). 12 bursts of 1-5 recolours (label / prediction / correct, 0-400 ms
apart, seeded); after each burst the kernel goes idle and, 2.5 s later, the page's bokeh data (the colour column,
the legend) must be the menu's colouring (polled for up to 30 s more: a late update is reported as late, one that
never comes as stale), and the plot's screenshot must be the same picture every time that
colouring is shown. Prints one line per burst and "lost updates: k of 12".

Run: python benchmarks/check_recolour.py [--points 50000]
"""
import argparse
import io
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_browser as bb  # noqa: E402  (the big map's notebook, the server harness)
from bench_browser import NOTEBOOK, harness, run_all  # noqa: E402

CODES = f"{NOTEBOOK} .explorer-codes"
MENU = "[...document.querySelectorAll('.explorer-codes .widget-dropdown')].find(x => x.innerText.includes('colour'))" \
       ".querySelector('select')"
# the page's own state: the colour column and the legend of the map's bokeh document
STATE = """
() => { const out = {sel: MENU.value, sums: [], legends: []};
  for (const d of (window.Bokeh && Bokeh.documents) || []) {
    const ms = d._all_models instanceof Map ? [...d._all_models.values()] : Object.values(d._all_models || {});
    for (const m of ms) {
      if (m.type === 'Legend') out.legends.push(m.items.length);
      if (m.type !== 'ColumnDataSource') continue;
      const data = m.data instanceof Map ? Object.fromEntries(m.data) : m.data;
      if (data.code) out.sums.push([...data.code].reduce((a, b) => a + b, 0)); } }
  return out; }
""".replace("MENU", MENU)
SET = ("(v) => { const s = MENU; s.value = v; s.dispatchEvent(new Event('change', {bubbles: true})); }"
       .replace("MENU", MENU))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=50000)
    args = ap.parse_args()
    sums, pictures, lost = {}, {}, 0
    with bb.lab_page() as (page, base, nb):
        bb.write_big_map(nb, args.points)
        page.goto(harness.lab_url(base, "big_map.ipynb"))
        run_all(page)
        page.wait_for_function(f"() => (document.querySelector('{CODES}') || {{innerText: ''}}).innerText"
                               ".includes('bits')", timeout=600_000)
        page.wait_for_function(f"() => !document.querySelector('{CODES}').innerText.includes('computing')",
                               timeout=600_000)
        page.wait_for_timeout(3000)
        # each colouring's column sum, set once by selecting it slowly (the kernel idle between)
        for v in ("label", "prediction", "correct"):
            page.evaluate(SET, v)
            page.wait_for_timeout(4000)
            sums[v] = page.evaluate(STATE)["sums"]
        rnd = random.Random(0)
        for burst in range(12):
            k = rnd.randint(1, 5)
            for _ in range(k):
                page.evaluate(SET, rnd.choice(["label", "correct", "prediction"]))
                page.wait_for_timeout(rnd.choice([0, 20, 100, 400]))
            page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=60_000)
            page.wait_for_timeout(2500)
            st, late = page.evaluate(STATE), 0.0
            while st["sums"] != sums[st["sel"]] and late < 30:  # late (still applying) or lost (never comes)
                page.wait_for_timeout(1000)
                st, late = page.evaluate(STATE), late + 1
            shot = page.locator(CODES).locator(".bk-Figure").first.screenshot()
            pic = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
            first = pictures.setdefault(st["sel"], pic)
            same = first.shape == pic.shape and bool((first == pic).all())
            ok = st["sums"] == sums[st["sel"]] and (2 in st["legends"]) == (st["sel"] == "correct") and same
            lost += not ok
            print(f"burst {burst}: {k} moves, menu {st['sel']}, page data "
                  f"{'matches' if st['sums'] == sums[st['sel']] else 'STALE ' + str(st['sums'])}"
                  f"{f' ({late:.0f} s late)' if late else ''}, picture "
                  f"{'the same as before' if same else 'DIFFERENT'}", flush=True)
    differ = [int((pictures[a] != pictures[b]).any(-1).sum()) for a, b in
              (("label", "prediction"), ("label", "correct")) if a in pictures and b in pictures]
    print(f"lost updates: {lost} of 12 (expected sums {sums}); pixels that differ between colourings: {differ}")


if __name__ == "__main__":
    main()
