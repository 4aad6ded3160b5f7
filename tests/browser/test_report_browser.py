"""The static HTML report of a tour opens in Chromium from a file, with every network request refused and no kernel:
its bokeh plots are drawn (canvases with ink), its pictures decoded, its tables there, and no console error."""
import pytest

from .conftest import Console

pytestmark = pytest.mark.browser

# the share of a canvas's pixels in colour (not white, grey or black: axes and labels alone do not count)
INK = """c => { const g = c.getContext('2d'); if (!g || !c.width || !c.height) return 0;
  const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 30) n++;
  return n / (c.width * c.height); }"""


def test_the_exported_report_opens_offline_with_its_plots_drawn(chromium, tmp_path):
    from explorer.app import Tour

    tour = Tour(epochs=1, device="cpu")  # made in this process: the report needs no kernel, so none runs
    tour.train()
    for title in ("Saliency", "Neural codes", "Loss landscape"):
        tour.tabs.selected_index = list(tour.labs).index(title)
    path = tmp_path / "tour.html"
    tour.export_html(path)
    html = path.read_text()
    n_plots = html.count("class='explorer-report-plot'")
    assert n_plots >= 2  # the codes map and the loss slice (plots of results not computed are left out)

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    refused = []

    def offline(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    console = Console(page)
    try:
        page.goto(path.as_uri())
        plots = page.locator(".explorer-report-plot")
        assert plots.count() == n_plots
        for i in range(n_plots):
            plots.nth(i).locator("canvas").first.wait_for(state="attached", timeout=20_000)
        page.wait_for_timeout(500)  # a frame for the last plot's paint
        for i in range(n_plots):
            ink = max(c.evaluate(INK) for c in plots.nth(i).locator("canvas").all())
            assert ink > 0.002, f"plot {i} of the report is blank ({ink:.4f} of its pixels inked)"
        images = page.locator("img[src^='data:image/png;base64,']")
        assert images.count() >= 24  # the gallery strip, the map, the compared methods
        assert images.evaluate_all("els => els.every(e => e.complete && e.naturalWidth > 0)")
        assert page.locator("table").count() >= 1 and page.locator("h2", has_text="Saliency").count() == 1
        assert page.locator(".choice", has_text="method").count() >= 1  # the choices that made the pictures
        assert refused == [] and console.errors == []
    finally:
        context.close()
