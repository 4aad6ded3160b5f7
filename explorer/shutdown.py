"""An orderly exit for work running on threads: stop it, then join it, before Python finalises.

Why: a daemon thread still inside torch when the interpreter finalises meets freed interpreter state and libtorch's
static destructors (or is torn down by pthread_exit in the middle of C++ frames): "double free or corruption",
rc 134. Python runs `threading._register_atexit` hooks first (before it joins non-daemon threads, so a
ThreadPoolExecutor's running job cannot hold the exit), then atexit hooks, then finalises: the hook goes first.
"""
from __future__ import annotations

import threading
import time


def _threads(workers) -> list[threading.Thread]:
    """The live threads of `workers`: a Thread, an executor (its `_threads`), an iterable of either, or a callable
    returning any of these (called at exit: the threads of then)."""
    if callable(workers) and not isinstance(workers, threading.Thread) and not hasattr(workers, "shutdown"):
        workers = workers()
    if isinstance(workers, threading.Thread):
        return [workers]
    if hasattr(workers, "shutdown"):  # concurrent.futures: drop what has not started
        workers.shutdown(wait=False, cancel_futures=True)
        return list(getattr(workers, "_threads", ()))
    return [t for w in (workers or ()) for t in _threads(w)]


def _stops(stop) -> list:
    """stop as callables: an Event's set, a callable, or an iterable of either."""
    if stop is None:
        return []
    if hasattr(stop, "set") and hasattr(stop, "is_set"):
        return [stop.set]
    if callable(stop):
        return [stop]
    return [f for s in stop for f in _stops(s)]


def stop_now(workers, stop=None, timeout: float = 10.0) -> list[threading.Thread]:
    """Ask the work to stop (stop: Events, callables), then join its threads within `timeout` s in all; the threads
    still running after that (a job that never reports progress), [] when all ended."""
    for fn in _stops(stop):
        fn()
    end = time.monotonic() + timeout
    alive = [t for t in _threads(workers) if t is not threading.current_thread()]
    for t in alive:
        t.join(max(0.0, end - time.monotonic()))
    return [t for t in alive if t.is_alive()]


def stop_at_exit(workers, stop=None, timeout: float = 30.0):
    """At interpreter exit, before Python finalises: stop_now(workers, stop, timeout), and a line on stderr naming
    the threads still running after it (their jobs report no progress: the exit may then crash). Returns a function
    that withdraws the hook (call it when the workers are closed for good, e.g. a session's executor shut down)."""
    withdrawn = threading.Event()

    def hook():
        if withdrawn.is_set():
            return
        left = stop_now(workers, stop, timeout)
        if left:
            import sys

            print(f"explorer: {len(left)} job thread(s) still running {timeout:g} s after being asked to stop at "
                  f"exit ({', '.join(t.name for t in left)}): Python may crash as it ends", file=sys.stderr)
    register = getattr(threading, "_register_atexit", None)  # CPython >= 3.9: runs before threads are joined
    try:
        register(hook) if register is not None else _atexit(hook)
    except RuntimeError:  # already shutting down: nothing can start after this either
        pass
    return withdrawn.set


def _atexit(hook) -> None:
    import atexit

    atexit.register(hook)
