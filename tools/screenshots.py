"""Write the README's pictures (docs/*.png): each lab of the tour in JupyterLab after its main action, and the
playground after training, in headless Chromium (the browser tests' harness). Look at them after a change.

Run: python tools/screenshots.py            (about 5 minutes on a quiet 2-core machine)
     python tools/screenshots.py --new      (only the tabs added since the first pictures)
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_browser import lab_page  # noqa: E402  (JupyterLab on a copy of the notebooks, a Chromium page)

from tests.browser import conftest as harness  # noqa: E402
from tests.browser.test_labs_browser import open_tab  # noqa: E402
from tests.browser.test_tour_browser import NOTEBOOK, trained  # noqa: E402

DOCS = ROOT / "docs"


def wait_text(page, selector: str, text: str, timeout: int = 180_000) -> None:
    page.wait_for_function("([s, t]) => { const e = document.querySelector(s); return e && e.innerText.includes(t); }",
                           arg=[selector, text], timeout=timeout)


def shot(page, selector: str, name: str) -> None:
    page.wait_for_timeout(1500)  # bokeh's last paint
    page.locator(selector).first.screenshot(path=str(DOCS / name), animations="disabled")
    print("wrote", DOCS / name)


def tour(page, base: str, only_new: bool = False) -> None:
    page.goto(harness.lab_url(base, "00_tour.ipynb"))
    trained(page)
    root = f"{NOTEBOOK} .explorer-tour"
    if only_new:
        return newer_tabs(page, root)
    shot(page, root, "tour-jupyterlab.png")
    open_tab(page, "Saliency")
    sal = f"{NOTEBOOK} .explorer-saliency"
    page.locator(sal).locator("button", has_text="every method").click()
    page.wait_for_timeout(15_000)  # every method's map on three images
    shot(page, root, "saliency-jupyterlab.png")
    open_tab(page, "Neural codes")
    page.locator(f"{NOTEBOOK} .explorer-codes").wait_for(timeout=120_000)
    wait_text(page, f"{NOTEBOOK} .explorer-codes", "bits")
    shot(page, root, "codes-jupyterlab.png")
    open_tab(page, "Loss landscape")
    land = page.locator(f"{NOTEBOOK} .explorer-landscape")
    land.locator(".widget-dropdown", has_text="points").locator("select").select_option("21")
    land.locator("button", has_text="compute slice").click()
    wait_text(page, f"{NOTEBOOK} .explorer-landscape", "441/441")
    shot(page, root, "landscape-jupyterlab.png")
    open_tab(page, "Geometry")
    geo = page.locator(f"{NOTEBOOK} .explorer-geometry")
    geo.locator(".lm-TabBar-tab", has_text="regions").click()
    geo.locator("button", has_text="compute regions").click()
    wait_text(page, f"{NOTEBOOK} .explorer-geometry", "regions on the")
    geo.locator(".widget-toggle-buttons button:visible", has_text="class").click()
    shot(page, root, "geometry-jupyterlab.png")
    newer_tabs(page, root)


def newer_tabs(page, root: str) -> None:
    """The tabs added since the first pictures: LRP, per-layer Hessian, grokking and the whole-dataset job."""
    open_tab(page, "Saliency")
    sal = f"{NOTEBOOK} .explorer-saliency"
    page.locator(sal).locator(".lm-TabBar-tab", has_text="LRP").click()
    wait_text(page, sal, "faithfulness correlation")
    shot(page, root, "lrp-jupyterlab.png")
    page.locator(sal).locator(".lm-TabBar-tab", has_text="DFF concepts").click()
    page.locator(sal).locator("button", has_text="Factorize").click()
    wait_text(page, sal, "top categories")
    shot(page, root, "dff-jupyterlab.png")
    page.locator(sal).locator(".lm-TabBar-tab", has_text="TCAV").click()
    page.locator(sal).locator("button:visible", has_text=re.compile(r"^\s*TCAV\s*$")).click()
    wait_text(page, sal, "CAV accuracy")
    shot(page, root, "tcav-jupyterlab.png")
    open_tab(page, "Loss landscape")
    land = f"{NOTEBOOK} .explorer-landscape"
    page.locator(land).locator(".lm-TabBar-tab", has_text="per layer").click()
    page.locator(land).locator("button", has_text="per-layer Hessian").click()
    wait_text(page, land, "groups,")
    shot(page, root, "layers-jupyterlab.png")
    open_tab(page, "Neural codes")
    codes = page.locator(f"{NOTEBOOK} .explorer-codes")
    codes.locator(".lm-TabBar-tab", has_text="grokking").click()
    codes.locator(".widget-dropdown", has_text="steps").locator("select").select_option("3000")
    codes.locator("button:visible:has(i.fa-play)", has_text=re.compile(r"^\s*train\s*$")).click()
    wait_text(page, f"{NOTEBOOK} .explorer-codes", "adversarial accuracy at", timeout=600_000)
    shot(page, root, "grokking-jupyterlab.png")
    open_tab(page, "Whole dataset")
    whole = page.locator(f"{NOTEBOOK} .explorer-dataset")
    whole.locator(".widget-text", has_text="folder").locator("input").fill("results/saliency-test")
    whole.locator(".widget-checkbox", has_text="replace").locator("input").check()
    whole.locator("button", has_text="run").click()
    wait_text(page, f"{NOTEBOOK} .explorer-dataset", "partitions computed", timeout=600_000)
    shot(page, root, "dataset-jupyterlab.png")


def playground(page, base: str) -> None:
    page.goto(harness.lab_url(base, "06_playground.ipynb"))
    trained_panel = f"{NOTEBOOK} .explorer-playground"
    from tests.browser.test_tour_browser import run_all

    run_all(page)
    page.locator(trained_panel).first.wait_for(timeout=120_000)
    page.wait_for_timeout(3000)
    pg = page.locator(trained_panel).first
    pg.locator("button", has_text=re.compile(r"^\s*train\s*$")).click()
    wait_text(page, ".explorer-playground-summary", "after training")
    shot(page, trained_panel, "playground-jupyterlab.png")


def main():
    DOCS.mkdir(exist_ok=True)
    with lab_page() as (page, base, _):
        page.set_viewport_size({"width": 1400, "height": 4200})  # the whole tour on screen: JupyterLab scrolls inside
        tour(page, base, only_new="--new" in sys.argv)
        if "--new" not in sys.argv:
            playground(page, base)


if __name__ == "__main__":
    main()
