"""Jobs: a slow result as a key naming every input, a prepare() that may use the model, and a pure compute().

The contract every lab's core follows, so that a notebook (`session.run(job)`) and a panel (the threaded runner in
`explorer.panels._runner`) run one implementation of each result:

- `key` names every input except the weights and the data, which the session adds when the job is requested
  (`Session.full_key`): a result is always filed under the weights it was computed with;
- `prepare()` runs on the caller's thread (the kernel's, in a notebook): anything that touches the user's model
  (hooks, a forward, a deep copy) happens here, never on a worker thread;
- `compute(prepared, progress)` is pure: it may run on any thread, reports `progress(done, total, info)` and stops
  with `Cancelled` when that call raises it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Cancelled(Exception):
    """The user cancelled a running job."""


def no_progress(done: int, total: int, info: dict | None = None) -> None:
    """The progress callback of a job nobody watches."""


@dataclass(frozen=True)
class Job:
    """A slow result: key (every input but the weights and data), prepare() here, compute(prepared, progress)."""

    key: tuple
    prepare: Callable[[], Any]
    compute: Callable[[Any, Callable], Any]
    title: str = ""  # what the progress bar says is running

    def run(self, progress=None) -> Any:
        """prepare() then compute() on this thread, not memoised (Session.run memoises)."""
        return self.compute(self.prepare(), progress or no_progress)


def job(key: tuple, prepare: Callable[[], Any], compute: Callable[[Any, Callable], Any], title: str = "") -> Job:
    """A Job; compute may take (prepared) alone when it reports no progress."""
    import inspect

    if len(inspect.signature(compute).parameters) == 1:
        pure = compute
        compute = lambda prepared, progress: pure(prepared)  # noqa: E731
    return Job(tuple(key), prepare, compute, title)


def ready(key: tuple, compute: Callable[[], Any], title: str = "") -> Job:
    """A job with nothing to prepare: compute() never touches the user's model (fits on stored features)."""
    return Job(tuple(key), lambda: None, lambda _, progress: compute(), title)
