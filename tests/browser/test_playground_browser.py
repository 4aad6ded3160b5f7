"""The playground in a real browser: run its notebook, press train, and see the regions plot redrawn while it
trains (at least two different pictures between the untrained one and the end)."""
import re

import pytest

from .conftest import fresh, lab_url
from .test_labs_browser import pixels
from .test_tour_browser import NOTEBOOK, accept_kernel_dialog, run_all

pytestmark = pytest.mark.browser

IDLE = f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']"


def test_playground_regions_redraw_while_training(lab_server, notebook_dir, lab_page):
    page = lab_page
    page.goto(lab_url(lab_server, fresh(notebook_dir, "06_playground.ipynb")))
    run_all(page)
    panels = page.locator(f"{NOTEBOOK} .explorer-playground")
    for _ in range(90):  # every cell ran (the last one shows the second playground) and the kernel is idle
        if panels.count() >= 2 and page.locator(IDLE).count():
            break
        if accept_kernel_dialog(page):
            run_all(page)
        page.wait_for_timeout(2000)
    pg = panels.first
    summary = pg.locator(".explorer-playground-summary")
    page.wait_for_function("() => document.querySelector('.explorer-playground-summary').innerText"
                           ".includes('untrained')", timeout=60_000)
    plot = pg.locator(".bk-Figure, .bk-root").first
    plot.wait_for(timeout=60_000)
    # a snapshot every 50 of the 500 steps: ten redraws (fewer polygons to send and draw on a loaded machine)
    pg.locator(".widget-dropdown", has_text="draw every").locator("select").select_option(label="50")
    before = pixels(plot)
    pg.locator("button", has_text=re.compile(r"^\s*train\s*$")).click()
    during = set()  # the pictures seen while the summary said "step i of n" with 0 < i < n
    for _ in range(600):
        text = summary.inner_text()
        m = re.search(r"step (\d+) of (\d+)", text)
        picture = pixels(plot)
        if m and 0 < int(m.group(1)) < int(m.group(2)):
            during.add(picture)
        if "after training" in text or len(during - {before}) >= 3:
            break
        page.wait_for_timeout(200)
    assert len(during - {before}) >= 2, f"the regions were redrawn {len(during - {before})} times while training"
    page.wait_for_function("() => document.querySelector('.explorer-playground-summary').innerText"
                           ".includes('after training')", timeout=240_000)
    assert float(re.search(r"test accuracy ([\d.]+)%", summary.inner_text()).group(1)) > 90
    assert not pg.locator(".explorer-error:visible").count()
