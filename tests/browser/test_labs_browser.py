"""Each lab in a real browser: open its tab in the tour, move a slider or change a menu, see the picture change."""
import hashlib

import pytest

from .conftest import lab_url
from .test_tour_browser import NOTEBOOK, run_all

pytestmark = pytest.mark.browser


def pixels(locator) -> str:
    """A hash of what the element looks like on screen (the drawn picture, whatever draws it)."""
    locator.scroll_into_view_if_needed()
    return hashlib.sha1(locator.screenshot(animations="disabled")).hexdigest()


def changes(page, locator, action, timeout: float = 30.0) -> bool:
    """Run action(); True once the element's picture differs from before it."""
    before = pixels(locator)
    action()
    for _ in range(int(timeout / 0.25)):
        page.wait_for_timeout(250)
        if pixels(locator) != before:
            return True
    return False


def open_tab(page, title: str):
    page.locator(f"{NOTEBOOK} .explorer-tour > .widget-tab > .lm-TabBar .lm-TabBar-tab",
                 has_text=title).first.click()


def nudge(page, slider, key: str = "ArrowRight", times: int = 3) -> None:
    """Move an ipywidgets slider with the keyboard, as a user would."""
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(times):
        handle.press(key)


def test_labs_respond_in_jupyterlab(lab_server, lab_page):
    page = lab_page
    page.goto(lab_url(lab_server, "00_tour.ipynb"))
    run_all(page)
    page.locator(f"{NOTEBOOK} .explorer-accuracy").wait_for(timeout=120_000)

    # saliency: the overlay's bytes change with alpha (a redraw) and with the method (a recompute)
    open_tab(page, "Saliency")
    sal = page.locator(f"{NOTEBOOK} .explorer-saliency")
    sal.wait_for(timeout=60_000)
    overlay = sal.locator("img").nth(8)  # after the 8 gallery thumbnails: the main overlay
    overlay.wait_for()
    alpha = sal.locator(".widget-hslider", has_text="alpha")
    assert changes(page, overlay, lambda: nudge(page, alpha, "ArrowLeft", 6)), "alpha did not redraw the overlay"
    method = sal.locator(".widget-dropdown", has_text="method").locator("select")
    assert changes(page, overlay, lambda: method.select_option("Eigen-CAM")), "method change did not redraw"
    assert not sal.locator(".explorer-error:visible").count()

    # neural codes: the map's picture changes with the colouring (a recolour of the bokeh plot)
    open_tab(page, "Neural codes")
    codes = page.locator(f"{NOTEBOOK} .explorer-codes")
    codes.wait_for(timeout=60_000)
    plot = codes.locator(".bk-Figure, .bk-root").first
    plot.wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('.explorer-codes').innerText.includes('computing')",
                           timeout=60_000)
    assert "bits" in codes.inner_text()
    colour = codes.locator(".widget-dropdown", has_text="colour").locator("select")
    assert changes(page, plot, lambda: colour.select_option("correct")), "recolouring did not change the map"

    # loss landscape: compute a slice, then α moves the marker and the live read-out
    open_tab(page, "Loss landscape")
    land = page.locator(f"{NOTEBOOK} .explorer-landscape")
    land.wait_for(timeout=60_000)
    land.locator(".widget-dropdown", has_text="points").locator("select").select_option("11")
    heat = land.locator(".bk-Figure, .bk-root").first
    heat.wait_for(timeout=60_000)
    assert changes(page, heat, lambda: land.locator("button", has_text="compute slice").click(), 120), \
        "the slice was not drawn"
    readout = land.locator(".widget-html", has_text="loss").first
    page.wait_for_timeout(1000)
    before = land.inner_text()
    assert changes(page, heat, lambda: nudge(page, land.locator(".widget-hslider", has_text="α"), times=10)), \
        "α did not move the marker"
    page.wait_for_function("b => document.querySelector('.explorer-landscape').innerText !== b", arg=before,
                           timeout=30_000)
    assert readout.count()
    assert not page.locator(".explorer-error:visible").count()
    assert not page.console.errors, page.console.errors
