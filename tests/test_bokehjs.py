"""BokehJS from an extension written from the installed bokeh, and plots whose state is their document now (issue
23.1): the browser half is tests/browser/test_reload_browser.py."""
import json

import pytest

pytest.importorskip("jupyter_bokeh")

from explorer.panels import bokehjs  # noqa: E402


def test_the_extension_serves_the_installed_bokehs_files(tmp_path, monkeypatch):
    import bokeh

    folder = bokehjs.install(tmp_path)
    meta = json.loads((folder / "package.json").read_text())
    assert meta["name"] == bokehjs.NAME and meta["bokeh"] == bokeh.__version__
    assert (folder / meta["jupyterlab"]["_build"]["load"]).is_file()
    entry = (folder / "static" / "remoteEntry.js").read_text()
    assert all(f in entry and (folder / "static" / f).stat().st_size > 10_000 for f in bokehjs.FILES)
    assert f'"{bokeh.__version__}"' in entry and "http" not in entry  # offline: files beside it, no CDN
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "elsewhere"))
    assert not bokehjs.installed()
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    assert bokehjs.installed()
    (folder / "package.json").write_text(json.dumps(dict(meta, bokeh="0.0.1")))  # another bokeh's: rewritten
    assert not bokehjs.installed() and bokehjs.install(tmp_path) == folder and bokehjs.installed()


def test_no_inline_bokehjs_in_outputs_where_the_extension_is(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("bokeh.io.output_notebook", lambda *a, **k: shown.append(a))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    bokehjs.load_bokeh()
    assert len(shown) == 1  # no extension: BokehJS INLINE in the output, as before
    bokehjs.install(tmp_path)
    bokehjs.load_bokeh()
    assert len(shown) == 1


def test_a_page_that_asks_gets_the_document_as_it_is_now():
    """The widget sends changes to the views that exist as patches; a page that asks for the state (a reload, a
    second tab) must get the data, not the empty document the plot was built with."""
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    source = ColumnDataSource({"x": [], "y": []})
    fig = figure()
    fig.line("x", "y", source=source)
    w = bokehjs.view(fig)
    sent = []
    w.send = lambda *a, **k: sent.append(a)
    source.data = {"x": [1.5, 2.5], "y": [3.5, 4.5]}
    assert sent  # the live views' patch
    doc = json.loads(w.get_state()["render_bundle"])["docs_json"]
    text = json.dumps(doc)
    assert "3.5" in text and "4.5" in text
    assert "3.5" not in json.dumps(w.render_bundle)  # jupyter_bokeh's own trait: still as built
    assert w.get_state("layout").keys() == {"layout"}  # other keys: no bundle made
    w.close()
    assert w not in fig.document.callbacks._change_callbacks  # its listener gone: no more patches to send
    w.close()  # again, as ipywidgets' __del__ does after an explicit close: jupyter_bokeh raised KeyError
