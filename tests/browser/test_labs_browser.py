"""Each lab in a real browser: open its tab in the tour, move a slider or change a menu, see the picture change."""
import hashlib

import pytest

from .conftest import TOKEN, fresh, lab_url
from .test_tour_browser import NOTEBOOK, trained

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


def colours(locator, share: float = 0.02) -> set:
    """The colours covering at least `share` of the element's picture; greys (axes, text, background) left out."""
    from io import BytesIO

    from PIL import Image

    locator.scroll_into_view_if_needed()
    im = Image.open(BytesIO(locator.screenshot(animations="disabled"))).convert("RGB")
    n = im.width * im.height
    return {c for k, c in im.getcolors(n) if k >= share * n and max(c) - min(c) > 30}


def open_tab(page, title: str, root: str = NOTEBOOK):
    page.locator(f"{root} .explorer-tour > .widget-tab > .lm-TabBar .lm-TabBar-tab", has_text=title).first.click()


def nudge(page, slider, key: str = "ArrowRight", times: int = 3) -> None:
    """Move an ipywidgets slider with the keyboard, as a user would."""
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(times):
        handle.press(key)


def test_labs_respond_in_jupyterlab(lab_server, notebook_dir, lab_page):
    page = lab_page
    page.goto(lab_url(lab_server, fresh(notebook_dir, "00_tour.ipynb")))
    trained(page)

    # saliency: the overlay's bytes change with alpha (a redraw) and with the method (a recompute)
    open_tab(page, "Saliency")
    sal = page.locator(f"{NOTEBOOK} .explorer-saliency")
    sal.wait_for(timeout=60_000)
    overlay = sal.locator("img").nth(8)  # after the 8 gallery thumbnails: the main overlay
    overlay.wait_for()
    alpha = sal.locator(".widget-hslider", has_text="alpha")
    assert changes(page, overlay, lambda: nudge(page, alpha, "ArrowLeft", 6)), "alpha did not redraw the overlay"
    method = sal.locator(".widget-dropdown", has_text="method").locator("select")
    assert changes(page, overlay, lambda: method.select_option(label="CAM · Eigen-CAM")), "method change did not redraw"
    assert not sal.locator(".explorer-error:visible").count()
    # every method: one named tile each, wrapped within the panel (25 columns of one picture ran off its edge)
    sal.locator("button", has_text="every method").click()
    n = len(sal.locator(".widget-select-multiple", has_text="compare").locator("option").all())
    page.wait_for_function(f"() => document.querySelectorAll('{NOTEBOOK} .explorer-saliency .explorer-tile img')"
                           f".length >= {n}", timeout=120_000)
    fits = sal.evaluate("""p => { const r = p.getBoundingClientRect();
        const tiles = [...p.querySelectorAll('.explorer-tile')];
        return {overflow: p.scrollWidth - p.clientWidth, tiles: tiles.length,
                outside: tiles.filter(t => t.getBoundingClientRect().right > r.right + 1).length,
                named: tiles.filter(t => t.innerText.trim().length > 0).length,
                lines: new Set(tiles.map(t => Math.round(t.getBoundingClientRect().top))).size}; }""")
    assert fits["tiles"] == n and fits["named"] == n, fits
    assert fits["overflow"] <= 1 and fits["outside"] == 0 and fits["lines"] > 1, fits
    # DFF and TCAV: each tab's button draws its concepts image with a legend, its scores as an inline SVG
    sal.locator(".lm-TabBar-tab", has_text="DFF concepts").click()
    sal.locator("button", has_text="Factorize").click()
    page.wait_for_function("() => document.querySelectorAll('.explorer-dff-legend tr').length == 5", timeout=60_000)
    sal.locator(".lm-TabBar-tab", has_text="TCAV").click()
    sal.locator("button", has_text="TCAV").click()
    page.wait_for_function("() => document.querySelectorAll('.explorer-tcav-plot circle').length == 20",
                           timeout=60_000)
    drawn = sal.evaluate("""p => ({svg: p.querySelector('.explorer-tcav-plot').getBoundingClientRect().width,
        dff: p.querySelector('img.explorer-dff-image').naturalWidth})""")
    assert drawn["svg"] > 300 and drawn["dff"] > 0, drawn
    cut = sal.locator(".explorer-tcav").evaluate("""v => { const r = v.getBoundingClientRect();
        return [...v.querySelectorAll('.widget-inline-hbox, .widget-button')].filter(
            e => e.getBoundingClientRect().right > r.right + 1).map(e => e.innerText.trim()); }""")
    assert cut == [], f"TCAV controls cut at the panel's right edge: {cut}"  # 'random from' was
    assert not sal.locator(".explorer-error:visible").count()

    # neural codes: the map's picture changes with the colouring (a recolour of the bokeh plot)
    open_tab(page, "Neural codes")
    codes = page.locator(f"{NOTEBOOK} .explorer-codes")
    codes.wait_for(timeout=60_000)
    plot = codes.locator(".bk-Figure, .bk-root").first
    plot.wait_for(timeout=60_000)
    # the codes are encoded in steps ("1/3 ... encoded train"); the map is drawn once the bits are counted
    page.wait_for_function("() => { const t = document.querySelector('.explorer-codes').innerText;"
                           " return t.includes('bits') && !t.includes('computing'); }", timeout=60_000)
    colour = codes.locator(".widget-dropdown", has_text="colour").locator("select")
    assert changes(page, plot, lambda: colour.select_option("correct")), "recolouring did not change the map"
    # a slow map (UMAP: numba's first compile alone takes seconds) runs off the kernel's thread: the panel answers
    # a layer change meanwhile, the superseded map is dropped, and the new layer's map is drawn
    codes.locator(".widget-dropdown", has_text="map").locator("select").select_option("UMAP")
    page.wait_for_function("() => document.querySelector('.explorer-codes').innerText.includes('computing the UMAP')",
                           timeout=30_000)
    codes.locator(".widget-dropdown", has_text="layers").locator("select").select_option("relu1")
    page.wait_for_function("() => { const t = document.querySelector('.explorer-codes').innerText;"
                           " return t.includes('1024 bits') && t.includes('computing the UMAP'); }", timeout=30_000)
    page.wait_for_function("() => !document.querySelector('.explorer-codes').innerText.includes('computing')",
                           timeout=180_000)
    assert not codes.locator(".explorer-error:visible").count()
    # the categorization table (K-Means and logistic regression on all 4,096 bits: tens of seconds here) runs on a
    # thread too: while it does, the saliency overlay still answers its slider; then the table arrives
    codes.locator(".widget-dropdown", has_text="layers").locator("select").select_option("all ReLU layers")
    codes.locator(".lm-TabBar-tab", has_text="categorization").click()
    codes.locator("button", has_text="K-Means and LR table").click()
    open_tab(page, "Saliency")
    assert changes(page, overlay, lambda: nudge(page, alpha, "ArrowRight", 3), timeout=20), "the kernel was blocked"
    assert "Hungarian" not in codes.text_content(), "the table finished before the check: it proves nothing"
    open_tab(page, "Neural codes")
    page.wait_for_function("() => document.querySelector('.explorer-codes').innerText.includes('Hungarian')",
                           timeout=180_000)

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
    # a fine slice (31 x 31, about ten seconds here) computes on a thread: α's live point answers meanwhile
    land.locator(".widget-dropdown", has_text="points").locator("select").select_option("31")
    land.locator("button", has_text="compute slice").click()
    page.wait_for_function("() => /\\d+\\/961/.test(document.querySelector('.explorer-landscape').innerText)",
                           timeout=30_000)
    live = ("b => { const land = document.querySelector('.explorer-landscape');"
            " const r = [...land.querySelectorAll('.widget-html')].map(e => e.innerText)"
            ".find(t => t.includes('at α='));"
            " return r !== undefined && r !== b && !land.innerText.includes('961/961'); }")
    shown = land.locator(".widget-html", has_text="at α=").first.inner_text()
    nudge(page, land.locator(".widget-hslider", has_text="α"), "ArrowLeft", 4)
    page.wait_for_function(live, arg=shown, timeout=30_000)
    page.wait_for_function("() => document.querySelector('.explorer-landscape').innerText.includes('961/961')",
                           timeout=180_000)
    assert not page.locator(".explorer-error:visible").count()
    assert not page.console.errors, page.console.errors


def overlay_digest(page, img) -> str:
    """SHA-1 of the bytes the <img> shows (its blob URL fetched in the page)."""
    return img.evaluate("async i => { const b = await (await fetch(i.src)).arrayBuffer();"
                        " const h = await crypto.subtle.digest('SHA-1', b);"
                        " return [...new Uint8Array(h)].map(x => x.toString(16).padStart(2, '0')).join(''); }")


def settle(page, fn, quiet_ms: int = 1500, timeout_ms: int = 30_000):
    """fn() once it has returned the same value for quiet_ms."""
    last, since, waited = None, 0, 0
    while waited < timeout_ms:
        now = fn()
        since = since + 250 if now == last else 0
        if since >= quiet_ms:
            return now
        last = now
        page.wait_for_timeout(250)
        waited += 250
    raise AssertionError(f"never settled: {last!r}")


def test_rapid_slider_moves_end_on_the_last_value(lab_server, notebook_dir, lab_page):
    """50 slider moves in about a second: the picture and read-out are those of the last value, no error."""
    page = lab_page
    page.goto(lab_url(lab_server, fresh(notebook_dir, "00_tour.ipynb")))
    trained(page)

    open_tab(page, "Saliency")
    sal = page.locator(f"{NOTEBOOK} .explorer-saliency")
    overlay = sal.locator("img").nth(8)
    overlay.wait_for(timeout=60_000)
    alpha = sal.locator(".widget-hslider", has_text="alpha")
    handle = alpha.locator(".noUi-handle")
    handle.focus()
    for key in ["ArrowRight"] * 7 + ["ArrowLeft"] * 20 + ["ArrowRight"] * 23:  # 50 moves
        handle.press(key, delay=5)
        page.wait_for_timeout(10)
    value = alpha.locator(".widget-readout").inner_text().strip()
    fast = settle(page, lambda: overlay_digest(page, overlay))
    # the same value reached slowly, one move away and back, must show the same bytes
    away, back = ("ArrowLeft", "ArrowRight") if float(value) > 0 else ("ArrowRight", "ArrowLeft")
    handle.press(away)
    assert settle(page, lambda: overlay_digest(page, overlay), quiet_ms=750) != fast
    handle.press(back)
    assert alpha.locator(".widget-readout").inner_text().strip() == value
    slow = settle(page, lambda: overlay_digest(page, overlay))
    assert fast == slow, "the overlay after rapid moves is not the picture of the last value"

    open_tab(page, "Loss landscape")
    land = page.locator(f"{NOTEBOOK} .explorer-landscape")
    land.wait_for(timeout=60_000)
    land.locator(".widget-dropdown", has_text="points").locator("select").select_option("7")
    land.locator("button", has_text="compute slice").click()
    page.wait_for_function("() => document.querySelector('.explorer-landscape').innerText.includes('49/49')",
                           timeout=120_000)
    a = land.locator(".widget-hslider", has_text="α")
    h = a.locator(".noUi-handle")
    h.focus()
    for key in ["ArrowRight"] * 30 + ["ArrowLeft"] * 9 + ["ArrowRight"] * 11:  # 50 moves
        h.press(key, delay=5)
        page.wait_for_timeout(10)
    shown = float(a.locator(".widget-readout").inner_text())
    readout = settle(page, lambda: land.locator(".widget-html", has_text="at α=").first.inner_text())
    assert f"α={shown:+.3f}" in readout, (shown, readout)
    assert not page.locator(".explorer-error:visible").count()
    assert not page.console.errors, page.console.errors


def test_labs_respond_in_the_voila_app(voila_server, lab_page):
    """The app as `explorer app` serves it: the lab tabs work with no code on the page."""
    page = lab_page
    page.goto(f"{voila_server}/?token={TOKEN}", wait_until="commit", timeout=120_000)
    page.locator(".explorer-accuracy").wait_for(timeout=120_000)
    open_tab(page, "Saliency", root="body")
    overlay = page.locator(".explorer-saliency img").nth(8)
    overlay.wait_for(timeout=60_000)
    alpha = page.locator(".explorer-saliency .widget-hslider", has_text="alpha")
    assert changes(page, overlay, lambda: nudge(page, alpha, "ArrowLeft", 4)), "alpha did not redraw in Voila"
    open_tab(page, "Loss landscape", root="body")
    land = page.locator(".explorer-landscape")
    land.locator(".widget-dropdown", has_text="points").locator("select").select_option("7")
    heat = land.locator(".bk-Figure").first
    heat.wait_for(timeout=60_000)
    assert changes(page, heat, lambda: land.locator("button", has_text="compute slice").click(), 120), \
        "the slice was not drawn in Voila"
    page.wait_for_function("() => document.querySelector('.explorer-landscape').innerText.includes('49/49')",
                           timeout=120_000)  # refined to the full grid after the preview
    page.wait_for_timeout(500)
    assert not page.locator(".explorer-error:visible").count()
    assert not page.console.errors, page.console.errors


def test_geometry_regions_drawn_and_a_click_shows_a_code(lab_server, notebook_dir, lab_page):
    """The geometry tab: pressing the regions button draws the plane's partition; a click on it shows a code; the
    class view shows more than one colour (it was all black: region boundaries drawn over every cell)."""
    page = lab_page
    page.goto(lab_url(lab_server, fresh(notebook_dir, "00_tour.ipynb")))
    trained(page)
    open_tab(page, "Geometry")
    geo = page.locator(f"{NOTEBOOK} .explorer-geometry")
    geo.wait_for(timeout=120_000)
    geo.locator(".lm-TabBar-tab", has_text="regions").click()
    plot = geo.locator(".bk-Figure:visible").first
    plot.wait_for(timeout=60_000)
    assert changes(page, plot, lambda: geo.locator("button", has_text="compute regions").click(), 180), \
        "the plane was not drawn"
    page.wait_for_function("() => document.querySelector('.explorer-geometry').innerText.includes('regions on the')",
                           timeout=120_000)
    assert "code:" not in geo.inner_text()
    plot.click()
    page.wait_for_function("() => document.querySelector('.explorer-geometry').innerText.includes('code:')",
                           timeout=120_000)
    assert "training inputs with this code" in geo.inner_text()
    toggle = geo.locator(".widget-toggle-buttons button:visible", has_text="class")
    assert changes(page, plot, toggle.click), "the class view was not drawn"
    assert len(colours(plot)) >= 2, "the regions class view is a single colour"
    assert not page.locator(".explorer-error:visible").count()
    assert not page.console.errors, page.console.errors
