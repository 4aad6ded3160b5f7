"""Shared panel pieces: the error line, guarded handlers, a progress bar, debounce."""
from __future__ import annotations

import functools
import traceback
import weakref

import ipywidgets as W

from .._html import text
from ..executor import kernel_loop
from ._images import display_scale, fitted_png, png  # noqa: F401 - the panels import them from here
from .bokehjs import load_bokeh  # noqa: F401 - the panels import it from here


class ErrorLine(W.HTML):
    """A red message line in a panel: empty when all is well."""

    shown = 0  # messages shown so far

    def show(self, err: BaseException) -> None:
        """Show an exception's message (its type for unnamed ones); the full traceback goes in the tooltip."""
        self.shown += 1
        msg = str(err) or type(err).__name__
        if isinstance(err, KeyError) and msg.startswith(("'", '"')):
            msg = msg[1:-1]  # KeyError quotes its message
        tip = text("".join(traceback.format_exception(err))[-2000:])
        self.value = (f"<div class='explorer-error' title=\"{tip}\" style='color:#b00020;white-space:pre-wrap'>"
                      f"&#9888; {text(msg)}</div>")

    def clear(self) -> None:
        """Remove the message."""
        self.value = ""


def guarded(method):
    """Run a panel handler; on an exception show it in self.error and keep the kernel and panel alive."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        shown = self.error.shown
        try:
            result = method(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - shown to the user, never swallowed silently
            self.error.show(err)
            return None
        if self.error.shown == shown:  # success clears an old message, not one shown during this call
            self.error.clear()
        return result
    return wrapper


def reporting(method):
    """Like guarded, but a success leaves an earlier message alone (a redraw does not answer an earlier error)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - shown to the user, never swallowed silently
            self.error.show(err)
            return None
    return wrapper


class Progress(W.HBox):
    """An IntProgress with a label; call it as progress(done, total, info) (the trainer's protocol)."""

    def __init__(self, description: str = ""):
        self.bar = W.IntProgress(value=0, min=0, max=1, description=description,
                                 layout=W.Layout(width="60%"))
        self.label = W.Label("")
        super().__init__([self.bar, self.label])
        self.add_class("explorer-progress")

    def __call__(self, done: int, total: int, info: dict | None = None) -> None:
        self.bar.max = max(total, 1)
        self.bar.value = min(done, self.bar.max)
        self.label.value = f"{done}/{total}" + "".join(f"  {k} {v}" for k, v in (info or {}).items())


def debounce(wait: float):
    """Call the decorated method only after `wait` seconds without a new call on the same object, when a kernel's
    event loop runs (slider drags then cost one evaluation, of the last value); elsewhere call at once."""
    def decorator(fn):
        handles = weakref.WeakKeyDictionary()  # per panel: two panels never cancel each other's call

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            loop = kernel_loop()
            if loop is None:
                return fn(self, *args, **kwargs)
            if (old := handles.get(self)) is not None:
                old.cancel()
            handles[self] = loop.call_later(wait, lambda: fn(self, *args, **kwargs))
        return wrapper
    return decorator


def close_tree(widget) -> None:
    """Close a widget and every widget it holds (children, pages, its layout and style): none left in the kernel."""
    if getattr(widget, "comm", None) is None and not isinstance(widget, W.Widget):
        return
    for name in getattr(widget, "keys", ()):
        value = getattr(widget, name, None)
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, W.Widget) and item is not widget:
                close_tree(item)
    doc = getattr(widget, "_document", None)  # a jupyter_bokeh BokehModel's bokeh Document
    try:
        widget.close()
    except KeyError:  # jupyter_bokeh's BokehModel.close when its document never registered it: closed all the same
        pass
    if doc is not None:  # its __del__ closes it again and unregisters from the figure's document a second time
        doc.remove_root(widget._model)  # (KeyError, "Exception ignored"): with no document that close does nothing


def replace_children(box, children) -> None:
    """Set a box's children and close the ones it no longer shows (replaced widgets would otherwise live on)."""
    keep = {id(c) for c in children}
    old = [c for c in box.children if id(c) not in keep]
    box.children = tuple(children)
    for c in old:
        close_tree(c)


def live_widgets() -> int:
    """How many widgets the kernel holds (ipywidgets' registry): for leak tests."""
    from ipywidgets.widgets import widget

    return len(widget._instances)


STYLE = ("<style>.explorer-stale-view > :not(.explorer-stale-note) {opacity: 0.5; filter: grayscale(0.8)}"
         "</style>")  # a view whose result belongs to earlier weights: greyed but for its note


class Lab(W.VBox):
    """A lab panel: its state (one small object the views share), its views, and close() for all of them; a view
    whose result belongs to earlier weights is greyed (STYLE)."""

    def __init__(self, children=(), **kwargs):
        super().__init__([W.HTML(STYLE), *children], **kwargs)

    def close(self) -> None:
        """Close the panel and everything it shows (each view stops its job first)."""
        for child in self.children:
            close_tree(child)
        super().close()
