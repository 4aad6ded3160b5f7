"""BokehJS from the page, not from a cell output, and plots that redraw on a reload.

jupyter_bokeh's widget draws with `window.Bokeh` but ships no BokehJS: bokeh's `output_notebook` puts it in a cell
output (INLINE: 4 MB per call, saved into the notebook) and a reloaded page has it only if that output was saved.
Here a tiny prebuilt JupyterLab extension, written from the installed bokeh (so the versions agree), loads bokeh's own
minified files from the Jupyter server when JupyterLab, Notebook 7 or Voila starts: offline, once, outside the notebook.
`explorer lab/notebook/app` install it (cli.environment); without it `load_bokeh` falls back to INLINE.

`view` makes jupyter_bokeh's BokehModel with a current state: the widget sends later changes as patches to the views
that exist, so its `render_bundle` stays the document as built; a page that asks the kernel for the widgets' states
(a reload, a second tab) would draw that first, often empty, document."""
from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

NAME = "explorer-bokehjs"
FILES = tuple(f"{c}.min.js" for c in ("bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables"))  # no mathjax (1.8 MB)

# jupyter_bokeh 4.1 sends every document event back to the kernel, those of the kernel's own patches too (bokeh marks
# them sync = false and its server's client drops them, bokeh#13406): each image a panel sent came back gzipped and
# base64'd (103 KB for the million-point map's picture; 60-70 ms more to paint a 400 x 360 image in Chromium here,
# then the kernel's decode). Only jupyter_bokeh's listener is filtered: bokeh's own still sees every event.
NO_ECHO = """function () {
    var Document = window.Bokeh.require("document").Document, onChange = Document.prototype.on_change;
    if (onChange.explorerNoEcho) return;
    Document.prototype.on_change = function (callback, allowBatches) {
      if (!allowBatches && String(callback).indexOf("_change_event") >= 0) {
        var listener = callback;
        callback = function (event) { if (event.sync !== false) listener(event); };
      }
      return onChange.call(this, callback, allowBatches);
    };
    Document.prototype.on_change.explorerNoEcho = true;
  }"""
# the same where BokehJS comes INLINE in a cell's output (no extension): once it is there
NO_ECHO_INLINE = ("(function wait(n) { if (window.Bokeh && window.Bokeh.require) (" + NO_ECHO + ")(); "
                  "else if (n > 0) setTimeout(function () { wait(n - 1); }, 100); })(100);")

ENTRY = """(function () {
  // explorer: BokehJS %(version)s for jupyter_bokeh's widgets, loaded in order from this extension's folder
  var base = document.currentScript.src.replace(/[^/]*$/, "");
  var files = %(files)s;
  function load(i) {
    if (i >= files.length) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = base + files[i];
      s.onload = resolve;
      s.onerror = function () { reject(new Error("explorer: could not load BokehJS from " + s.src)); };
      document.head.appendChild(s);
    }).then(function () { return load(i + 1); });
  }
  var noEcho = %(no_echo)s;
  var ready = (window.Bokeh && window.Bokeh.version === "%(version)s" ? Promise.resolve() : load(0)).then(noEcho);
  var plugin = {id: "%(name)s:plugin", autoStart: true, activate: function () { return ready; }};
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB["%(name)s"] = {
    // JupyterLab, Notebook 7 and Voila await every extension's init before any plugin starts: no widget draws first
    init: function () { return ready; },
    get: function () { return Promise.resolve(function () { return {__esModule: true, "default": plugin}; }); }
  };
})();
"""


def _bokeh() -> tuple[str, Path]:
    import bokeh
    from bokeh.util.paths import bokehjs_path

    return bokeh.__version__, Path(bokehjs_path()) / "js"


def _entry(version: str) -> str:
    return ENTRY % {"version": version, "files": json.dumps(list(FILES)), "name": NAME, "no_echo": NO_ECHO}


def _package(version: str) -> dict:
    return {"name": NAME, "version": "0.1.0", "description": "BokehJS for explorer's plots (written by explorer)",
            "bokeh": version, "jupyterlab": {"extension": True, "_build": {"load": "static/remoteEntry.js",
                                                                           "extension": "./extension"}}}


def extension_dir(data_dir: Path | str) -> Path:
    """Where the extension lives below a Jupyter data folder (one on JUPYTER_PATH)."""
    return Path(data_dir) / "labextensions" / NAME


def current(folder: Path) -> bool:
    """Whether `folder` holds the extension for the installed bokeh."""
    try:
        meta = json.loads((folder / "package.json").read_text())
    except (OSError, ValueError):
        return False
    version, _ = _bokeh()
    try:
        entry = (folder / "static" / "remoteEntry.js").read_text()
    except OSError:
        return False
    return (meta.get("bokeh") == version and entry == _entry(version)
            and all((folder / "static" / f).is_file() for f in FILES))


def install(data_dir: Path | str | None = None) -> Path:
    """Write the extension below `data_dir` (the user's Jupyter data folder by default) unless it is current."""
    if data_dir is None:
        from jupyter_core.paths import jupyter_data_dir

        data_dir = jupyter_data_dir()
    folder = extension_dir(data_dir)
    if current(folder):
        return folder
    version, js = _bokeh()
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "static").mkdir(parents=True)
    for f in FILES:
        shutil.copyfile(js / f, tmp / "static" / f)
    (tmp / "static" / "remoteEntry.js").write_text(_entry(version))
    (tmp / "package.json").write_text(json.dumps(_package(version), indent=1))  # last: `current` reads it
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def installed() -> bool:
    """Whether a current extension is on this process's Jupyter path (the kernel's is its server's)."""
    from jupyter_core.paths import jupyter_path

    return any(current(Path(p) / NAME) for p in jupyter_path("labextensions"))


def load_bokeh() -> None:
    """BokehJS for the page: nothing to do where the extension is installed; else bokeh's INLINE output (offline,
    but 4 MB in the notebook and lost on a reload of an unsaved page), which must run in a cell's output before any
    plot shows, else the widget shows 'Could not create a view' (bokeh/jupyter_bokeh#150)."""
    if installed():
        return
    import bokeh.io
    import bokeh.resources
    from IPython.display import Javascript, display

    bokeh.io.output_notebook(bokeh.resources.INLINE, hide_banner=True)
    display(Javascript(NO_ECHO_INLINE))


@functools.cache
def plot_class():
    """`Plot`: jupyter_bokeh's BokehModel whose state, when a page asks for it, is its document now (made on first
    use: jupyter_bokeh is imported only when a panel draws)."""
    from bokeh.core.json_encoder import serialize_json
    from jupyter_bokeh import BokehModel

    class Plot(BokehModel):
        def get_state(self, key=None, drop_defaults=False):
            state = super().get_state(key, drop_defaults)
            if "render_bundle" in state and self._document is not None:
                state["render_bundle"] = serialize_json(self._model_to_traits(self._model))
            return state

        def close(self):
            # jupyter_bokeh's close removes its document listener with no check, so a second close (ipywidgets'
            # __del__ after an explicit one) raised KeyError, printed as "Exception ignored" into a cell's output
            if self.comm is None:
                return
            super().close()

    return Plot


def view(fig):
    """A bokeh figure as a widget that a reloaded page draws as it is now."""
    return plot_class()(fig)
