"""Shared panel pieces: PNG encoding, the error line, guarded handlers, a progress bar, debounce."""
from __future__ import annotations

import asyncio
import functools
import html
import io
import threading
import traceback
import weakref

import ipywidgets as W
import numpy as np
from PIL import Image


def png(image: np.ndarray, scale: int = 1) -> bytes:
    """uint8 (H, W, 3) or (H, W) array -> PNG bytes, enlarged `scale` times with sharp (nearest) pixels."""
    im = Image.fromarray(np.ascontiguousarray(image))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)  # level 1: several times faster than the default, ~same size
    return buf.getvalue()


def display_scale(height: int, target: int = 96) -> int:
    """An integer enlargement that brings an image of this height near `target` pixels."""
    return max(1, round(target / max(height, 1)))


def load_bokeh() -> None:
    """Load BokehJS (INLINE: offline) into the page; must run in a cell's output before any BokehModel shows,
    else the widget shows 'Could not create a view' (bokeh/jupyter_bokeh#150). Panels call it; the dashboard calls
    it when its cell runs, since panels built later from a tab click have no cell output to load it into."""
    import bokeh.io
    import bokeh.resources

    bokeh.io.output_notebook(bokeh.resources.INLINE, hide_banner=True)


class ErrorLine(W.HTML):
    """A red message line in a panel: empty when all is well."""

    shown = 0  # messages shown so far

    def show(self, err: BaseException) -> None:
        """Show an exception's message (its type for unnamed ones); the full traceback goes in the tooltip."""
        self.shown += 1
        msg = str(err) or type(err).__name__
        if isinstance(err, KeyError) and msg.startswith(("'", '"')):
            msg = msg[1:-1]  # KeyError quotes its message
        tip = html.escape("".join(traceback.format_exception(err))[-2000:], quote=True)
        self.value = (f"<div class='explorer-error' title=\"{tip}\" style='color:#b00020;white-space:pre-wrap'>"
                      f"&#9888; {html.escape(msg)}</div>")

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


def _kernel_loop():
    """The IPython kernel's running event loop, or None (tests, scripts, or another library's loop)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def debounce(wait: float):
    """Call the decorated method only after `wait` seconds without a new call on the same object, when a kernel's
    event loop runs (slider drags then cost one evaluation, of the last value); elsewhere call at once."""
    def decorator(fn):
        handles = weakref.WeakKeyDictionary()  # per panel: two panels never cancel each other's call

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            loop = _kernel_loop()
            if loop is None:
                return fn(self, *args, **kwargs)
            if (old := handles.get(self)) is not None:
                old.cancel()
            handles[self] = loop.call_later(wait, lambda: fn(self, *args, **kwargs))
        return wrapper
    return decorator


class Worker:
    """Runs a slow computation that never uses the user's model itself (an embedding of codes, sklearn fits on
    features, a sweep of its own models, a slice on a copy of the model) on a thread when a kernel's event loop
    runs, so the page stays live; done(result) or failed(error) then run on the kernel's loop, and only for the
    newest request: a result that a later request superseded is dropped, never drawn. The session's memo is read
    and filled only on the kernel's thread (cached()). Outside a kernel (tests, scripts) everything runs at once."""

    def __init__(self):
        self.generation = 0
        self._loop = self._thread = None  # the kernel's loop and its thread, where submit() was called

    def submit(self, compute, done, failed) -> None:
        """Run compute() (on a thread in a kernel), then done(result) or failed(error) if still the newest."""
        self.generation += 1
        generation = self.generation
        loop = self._loop = _kernel_loop()
        self._thread = threading.get_ident()
        if loop is None:
            try:
                result = compute()
            except Exception as err:  # noqa: BLE001 - handed to failed(), which shows it
                failed(err)
                return
            done(result)
            return

        def finish(result, err):
            if generation != self.generation:
                return  # superseded: drawing it would show a stale result
            failed(err) if err is not None else done(result)

        def work():
            try:
                result, err = compute(), None
            except Exception as e:  # noqa: BLE001 - handed to failed() on the kernel's loop
                result, err = None, e
            loop.call_soon_threadsafe(finish, result, err)
        threading.Thread(target=work, daemon=True, name="explorer-worker").start()

    def cached(self, session, key: tuple, start, done, failed) -> None:
        """done(the memoised result) at once if session holds key; else compute = start() here (the part that needs
        the model, on the kernel's thread), compute() on a thread, and the result stored in the memo and drawn."""
        if session.known(key):
            self.generation += 1  # a result still computing for an earlier request is stale now
            done(session.memo(key, lambda: None))
            return
        self.submit(start(), lambda result: done(session.memo(key, lambda: result)), failed)

    def call(self, fn, *args) -> None:
        """fn(*args) on the kernel's loop when called from a worker thread (progress bars), else at once."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._thread:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)
