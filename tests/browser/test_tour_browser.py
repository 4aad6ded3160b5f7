"""The tour in a real browser: JupyterLab and the Voila app render the progress bar and the gallery."""
import re

import pytest

from .conftest import lab_url

pytestmark = pytest.mark.browser

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def run_all(page, attempts: int = 6) -> None:
    """Run every cell through JupyterLab's own menu; retry while the kernel is still connecting."""
    page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    started = f"{NOTEBOOK} .jp-InputPrompt:text-matches('\\[(\\*|\\d+)\\]')"
    for _ in range(attempts):
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        try:
            page.wait_for_selector(started, timeout=10_000)
            return
        except Exception:  # the kernel was not ready: the cells stay '[ ]'; try again
            continue
    raise AssertionError("the notebook's cells never started running")


def test_tour_runs_in_jupyterlab(lab_server, lab_page):
    page = lab_page
    page.goto(lab_url(lab_server, "00_tour.ipynb"))
    run_all(page)
    tour = page.locator(f"{NOTEBOOK} .explorer-tour")
    tour.wait_for(timeout=60_000)
    # training finished: the bar is full and the status line names the accuracy
    page.wait_for_function(
        "() => { const t = document.querySelector('.explorer-tour .explorer-progress > .widget-label');"
        " const m = t && t.textContent.match(/^(\\d+)\\/(\\d+)/); return m && m[1] === m[2] && m[1] !== '0'; }",
        timeout=90_000)
    bar = tour.locator(".explorer-progress .widget-hprogress .progress-bar")
    assert bar.evaluate("b => b.style.width") == "100%"
    accuracy = tour.locator(".explorer-accuracy")
    accuracy.wait_for(timeout=60_000)
    assert float(re.match(r"([\d.]+)%", accuracy.inner_text()).group(1)) >= 90
    gallery = tour.locator(".explorer-gallery img")
    gallery.first.wait_for(timeout=30_000)
    assert gallery.count() == 24
    # every thumbnail is a decoded picture, not a broken image
    assert page.evaluate("() => [...document.querySelectorAll('.explorer-gallery img')]"
                         ".every(i => i.complete && i.naturalWidth > 0)")
    assert not page.console.errors, page.console.errors


def test_tour_serves_as_voila_app(voila_server, lab_page):
    page = lab_page
    page.goto(f"{voila_server}/", wait_until="commit", timeout=120_000)  # Voila streams while it runs
    page.locator(".explorer-gallery img").first.wait_for(timeout=120_000)
    assert page.locator(".explorer-gallery img").count() == 24
    assert page.locator(".explorer-accuracy").count() == 1
    assert "from explorer.app import Tour" not in page.inner_text("body"), "code cells are visible"
    assert not page.console.errors, page.console.errors
