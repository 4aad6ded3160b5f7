"""Slider-to-screen latency in a real browser: JupyterLab on the tour, Debian's Chromium (headless) via Playwright.

For each interaction, the time from the input event (a key on a slider handle, a change on a menu) to the changed
picture on screen: a new overlay <img> decoded and painted, or a bokeh canvas whose pixels changed (polled every
animation frame). Median and 90th percentile over --steps moves, after two warm-up moves.

Run: python benchmarks/bench_browser.py [--steps 20]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import conftest as harness  # noqa: E402  (the test harness: server, Chromium flags)
from tests.browser.test_labs_browser import open_tab  # noqa: E402
from tests.browser.test_tour_browser import NOTEBOOK, run_all  # noqa: E402

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
  } else if (trigger.kind === 'click') {  // the last gallery thumbnail: a new image, so a new map
    const b = [...panel.querySelectorAll(trigger.selector)].pop();
    b.click();
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
               "key": m if trigger["kind"] == "key" else "", "value": m if trigger["kind"] == "menu" else ""}
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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from explorer.cli import copy_notebooks

    tmp = Path(tempfile.mkdtemp())
    nb = tmp / "nb"
    copy_notebooks(nb)
    port = harness._free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={harness.TOKEN}", f"--ServerApp.root_dir={nb}"]
    if hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0:
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    proc, fh = harness._serve(cmd, tmp, f"{base}/api/status?token={harness.TOKEN}", nb)
    rows, firsts = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=harness.CHROMIUM, headless=True, args=harness.FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(harness.lab_url(base, "00_tour.ipynb"))
            page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            start = time.perf_counter()  # a fresh kernel: first imports, training, the gallery
            run_all(page)
            page.locator(f"{NOTEBOOK} .explorer-accuracy").wait_for(timeout=120_000)
            firsts.append(f"| Run All to the accuracy on screen (fresh kernel) | {time.perf_counter() - start:.1f} s |")

            sal = ".jp-NotebookPanel:not(.lm-mod-hidden) .explorer-saliency"
            open_tab(page, "Saliency")
            page.locator(sal).locator("img").nth(8).wait_for(timeout=60_000)
            alpha = slider_index(page, sal, "alpha")
            lr = lambda i: "ArrowLeft" if i % 2 else "ArrowRight"  # noqa: E731
            rows.append(summary("overlay alpha (cached redraw)", measure(
                page, args.steps, sal, {"kind": "key", "index": alpha}, {"kind": "img", "nth": 8}, lr)))
            rows.append(summary("saliency recompute (a new image: map, gallery, 3 x 3 compare grid)", measure(
                page, args.steps, sal, {"kind": "click", "selector": "button[title^='image ']"},
                {"kind": "img", "nth": 8}, lambda i: "")))

            land = ".jp-NotebookPanel:not(.lm-mod-hidden) .explorer-landscape"
            open_tab(page, "Loss landscape")
            page.locator(land).wait_for(timeout=60_000)
            page.locator(land).locator(".widget-dropdown", has_text="points").locator("select").select_option("11")
            page.locator(land).locator("button", has_text="compute slice").click()
            page.wait_for_function(f"() => document.querySelector('{land}').innerText.includes('121/121')",
                                   timeout=120_000)
            a = slider_index(page, land, "α")
            rows.append(summary("landscape marker move (α)", measure(
                page, args.steps, land, {"kind": "key", "index": a}, {"kind": "canvas", "nth": 0}, lr)))

            codes = ".jp-NotebookPanel:not(.lm-mod-hidden) .explorer-codes"
            open_tab(page, "Neural codes")
            page.locator(codes).locator(".bk-Figure").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            rows.append(summary("codes map recolour (label / correct)", measure(
                page, args.steps, codes, {"kind": "menu", "label": "colour"}, {"kind": "canvas", "nth": 0},
                lambda i: "correct" if i % 2 == 0 else "label")))
            start = time.perf_counter()  # the first UMAP of this kernel (numba's compile, unless cached on disk)
            page.locator(codes).locator(".widget-dropdown", has_text="map").locator("select").select_option("UMAP")
            page.wait_for_function(f"() => document.querySelector('{codes}').innerText.includes('computing the UMAP')",
                                   timeout=30_000)
            page.wait_for_function(f"() => !document.querySelector('{codes}').innerText.includes('computing')",
                                   timeout=300_000)
            firsts.append(f"| choosing UMAP to the map on screen (first UMAP of the kernel) | "
                          f"{time.perf_counter() - start:.1f} s |")
            browser.close()
    finally:
        proc.terminate()
        fh.close()
    print("| interaction | median ms | p90 ms | min | max | moves |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| first time | seconds |\n|---|---|")
    print("\n".join(firsts))


if __name__ == "__main__":
    main()
