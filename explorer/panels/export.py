"""Save what a panel shows: pictures as PNG, bokeh plots as standalone HTML (INLINE, works offline), tables as CSV."""
from __future__ import annotations

import re
import time
from pathlib import Path

import ipywidgets as W

from .._html import text
from ._common import ErrorLine, guarded


def bokeh_html(fig, title: str) -> str:
    """A bokeh figure as a standalone HTML page with BokehJS inlined."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    return file_html(fig, INLINE, title)


class Export(W.VBox):
    """A save button: items() gives {file name: bytes (PNG) | str (HTML, CSV) | None (skipped)}, written to a folder."""

    def __init__(self, name: str, items, folder: str = "explorer-exports"):
        self.name, self.items = name, items
        self.folder = W.Text(value=folder, description="save to", layout=W.Layout(width="320px"))
        self.button = W.Button(description="save figures and tables", icon="download",
                               layout=W.Layout(width="auto"))  # the default width cuts the label
        self.status = W.HTML()
        self.error = ErrorLine()
        self.saved: list[Path] = []
        self.button.on_click(lambda _: self.save())
        super().__init__([W.HBox([self.folder, self.button]), self.status, self.error])
        self.add_class("explorer-export")

    @guarded
    def save(self) -> list[Path]:
        """Write every non-empty item as <folder>/<panel>-<time>-<name>; the status line lists them."""
        out = Path(self.folder.value).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        paths = []
        for fname, content in self.items().items():
            if content is None or len(content) == 0:
                continue  # not computed yet
            path = out / f"{self.name}-{stamp}-{re.sub(r'[^A-Za-z0-9._-]+', '_', fname)}"
            if isinstance(content, (bytes, bytearray, memoryview)):  # an Image widget's value is a memoryview
                path.write_bytes(bytes(content))
            else:
                path.write_text(content)
            paths.append(path)
        self.saved = paths
        if not paths:
            self.status.value = "nothing to save yet: compute something first"
        else:
            self.status.value = (f"saved {len(paths)} file(s) in <code>{text(out.resolve())}</code>: "
                                 + ", ".join(f"<code>{text(p.name)}</code>" for p in paths))
        return paths
