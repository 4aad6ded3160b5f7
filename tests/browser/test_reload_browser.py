"""A reloaded JupyterLab page draws every bokeh plot that was drawn, with its current data (issue 23.1)."""
import io

import pytest

from .conftest import fresh, lab_url
from .test_labs_browser import open_tab
from .test_tour_browser import NOTEBOOK, trained

pytestmark = pytest.mark.browser

# rows in the glyph renderers' sources of each bokeh plot on the page, by the plot's model id
ROWS = ("() => window.Bokeh === undefined ? null : Object.fromEntries(Bokeh.index.roots"
        ".filter(v => v.el.isConnected && v.model.renderers !== undefined)"
        ".map(v => [v.model.id, v.model.renderers.filter(r => r.data_source !== undefined)"
        ".reduce((n, r) => n + r.data_source.get_length(), 0)]))")


def inked(locator) -> float:
    """The fraction of the element's pixels that are not white (an empty frame: axes only, a few percent)."""
    from PIL import Image

    locator.scroll_into_view_if_needed()
    img = Image.open(io.BytesIO(locator.screenshot(animations="disabled"))).convert("L")
    return sum(1 for p in img.getdata() if p < 235) / (img.width * img.height)


def test_a_reload_draws_every_plot_again(lab_server, notebook_dir, lab_page):
    page = lab_page
    page.goto(lab_url(lab_server, fresh(notebook_dir, "00_tour.ipynb")))
    trained(page)
    open_tab(page, "Neural codes")  # the map computes on opening
    page.wait_for_function("() => { const c = document.querySelector('.explorer-codes');"
                           " return c && c.innerText.includes('bits') && !c.innerText.includes('computing'); }",
                           timeout=120_000)
    open_tab(page, "Loss landscape")
    land = page.locator(f"{NOTEBOOK} .explorer-landscape")
    land.locator(".widget-dropdown", has_text="points").locator("select").select_option("7")
    land.locator("button", has_text="compute slice").click()
    page.wait_for_function("() => document.querySelector('.explorer-landscape').innerText.includes('49/49')",
                           timeout=120_000)
    page.wait_for_timeout(1000)
    heat = land.locator(".bk-Figure").first
    before, ink = page.evaluate(ROWS), inked(heat)
    drawn = {k: n for k, n in before.items() if n}
    assert len(drawn) >= 3, before  # the codes map, the slice and its 1-D cut at least

    # saved, as JupyterLab's autosave does (a reload opens the file; unsaved outputs are gone with their widgets)
    page.click(".lm-MenuBar-itemLabel:text-is('File')")
    page.click(".lm-Menu-itemLabel:text-is('Save Notebook')")
    page.wait_for_function("() => !document.querySelector('.lm-DockPanel-tabBar .jp-mod-dirty')", timeout=30_000)
    page.reload()
    land = page.locator(f"{NOTEBOOK} .explorer-landscape")
    land.locator(".bk-Figure").first.wait_for(timeout=120_000)
    page.wait_for_function(f"() => {{ const r = ({ROWS})(); return r !== null &&"
                           f" {list(drawn)!r}.every(k => r[k] > 0); }}", timeout=60_000)
    after = page.evaluate(ROWS)
    assert {k: after.get(k) for k in drawn} == drawn, "a plot came back with other data than it had"
    assert inked(land.locator(".bk-Figure").first) > 0.8 * ink > 0, "the slice's heat map came back blank"
    assert not page.locator(".explorer-error:visible").count()
    assert not [e for e in page.console.errors if "bokeh" in e.lower() or "Bokeh" in e], page.console.errors


def test_the_kernels_own_patches_are_not_sent_back(chromium):
    """jupyter_bokeh's document listener (found by its text, `_change_event`) no longer gets the events of a patch
    the kernel sent (sync false), with bokeh's own files and the snippet the INLINE fallback runs; other listeners
    still get every event, and the page's own changes still reach jupyter_bokeh."""
    from pathlib import Path

    from bokeh.util.paths import bokehjs_path

    from explorer.panels import bokehjs

    page = chromium.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(Path(bokehjs_path()) / "js" / "bokeh.min.js"))
        page.add_script_tag(content=bokehjs.NO_ECHO_INLINE)
        page.wait_for_function("() => Bokeh.require('document').Document.prototype.on_change.explorerNoEcho")
        seen, everyone, start = page.evaluate("""() => {
          const {Document} = Bokeh.require("document"), {Range1d} = Bokeh.require("models");
          const doc = new Document(), range = new Range1d({start: 0, end: 1});
          doc.add_root(range);
          const seen = [], everyone = [], view = {_change_event(e) { seen.push(e.sync); }};
          doc.on_change((e) => view._change_event(e));  // as jupyter_bokeh's widget registers it
          doc.on_change((e) => everyone.push(e.sync));
          doc.apply_json_patch({events: [{kind: "ModelChanged", model: {id: range.id}, attr: "start", new: 5}]});
          range.start = 7;  // the page's own change (a pan, a tool)
          return [seen, everyone, range.start]; }""")
        assert (seen, everyone, start) == ([True], [False, True], 7)
    finally:
        page.close()
