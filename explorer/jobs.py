"""Jobs: a slow result as a key naming every input, a prepare() that may use the model, and a pure compute().

The contract every lab's core follows, so that a notebook (`session.run(job)`) and a panel (`session.submit(job, ...)`,
the one executor in `explorer.executor`) run one implementation of each result:

- `key` names every input except the weights and the data, which the session adds when the job is requested
  (`Session.full_key`): a result is always filed under the weights it was computed with;
- `prepare()` runs on the caller's thread (the kernel's, in a notebook): anything that touches the user's model
  (hooks, a forward, a deep copy) happens here, never on a worker thread;
- `compute(prepared, progress)` is pure: it may run on any thread, reports `progress(done, total, info)` and stops
  with `Cancelled` when that call raises it;
- `estimate()` (optional) says what compute would cost before anything runs: an `Estimate` of seconds and bytes,
  cheap (at most one timed small forward) and on the caller's thread like prepare(). `Session.admit(job)` refuses a
  job whose bytes do not fit and the panels' bar warns when the seconds are over `Session.time_budget`.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


class Cancelled(Exception):
    """The user cancelled a running job."""


def no_progress(done: int, total: int, info: dict | None = None) -> None:
    """The progress callback of a job nobody watches."""


def duration(seconds: float) -> str:
    """'0.03 s', '4.2 s', '40 s', '3 min' or '1.5 h'."""
    if seconds < 0.1:
        return f"{seconds:.2g} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def size(n: float) -> str:
    """Bytes as '12 kB', '340 MB' or '1.2 GB' (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 10 * scale else f"{n / scale:.0f} {unit}"
    return f"{n / 1e3:.0f} kB"


@dataclass(frozen=True)
class Estimate:
    """What a job will cost before it starts: seconds, peak bytes, and how they were reckoned."""

    seconds: float
    bytes: int
    what: str = ""

    def __str__(self) -> str:
        return f"about {duration(self.seconds)}, {size(self.bytes)}"

    def __add__(self, other: Estimate) -> Estimate:
        """Two stages run one after the other: their times add, and so do their memories (both results are kept)."""
        what = " + ".join(w for w in (self.what, other.what) if w)
        return Estimate(self.seconds + other.seconds, int(self.bytes + other.bytes), what)

    def over(self, seconds_budget: float) -> str:
        """The warning when the time is over a budget, else ''."""
        if self.seconds <= seconds_budget:
            return ""
        return f"over budget: about {duration(self.seconds)} (budget {duration(seconds_budget)})"


@dataclass(frozen=True)
class Job:
    """A slow result: key (every input but the weights and data), prepare() here, compute(prepared, progress)."""

    key: tuple
    prepare: Callable[[], Any]
    compute: Callable[[Any, Callable], Any]
    title: str = ""  # what the progress bar says is running
    estimate: Callable[[], Estimate] | None = None  # the cost before it runs (caller's thread, cheap)
    store: bool = True  # False: never memoised as a whole (training; a job that files its parts itself)
    changes_weights: bool = False  # True for training: its result is for the weights it makes, never "stale"
    commit: Callable[[Any], Any] | None = None  # on the kernel's thread after compute: applies the result (training)

    def run(self, progress=None) -> Any:
        """prepare() then compute() on this thread, not memoised (Session.run memoises)."""
        return self.compute(self.prepare(), progress or no_progress)


def key(*parts) -> tuple:
    """A memo key from a job's inputs: lists, tuples and arrays become tuples, dicts sorted (key, value) tuples, a
    single layer name stays a string and None stays None, so equal choices always give equal keys."""
    return tuple(_frozen(p) for p in parts)


def _frozen(v):
    if isinstance(v, (str, bytes, int, float, bool, type(None))):
        return v
    if isinstance(v, Mapping):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):
        return tuple(v.tolist())
    if isinstance(v, (list, tuple, range)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, (set, frozenset)):
        return tuple(sorted(_frozen(x) for x in v))
    if isinstance(v, np.generic):
        return v.item()
    return v


def private_copy(model):
    """The job's own copy of the user's model, made in prepare() on the kernel's thread: compute() may hook, perturb
    or load checkpoints into it on a worker while the user's model stays free and unchanged."""
    return copy.deepcopy(model)


def job(key: tuple, prepare: Callable[[], Any], compute: Callable[[Any, Callable], Any], title: str = "",
        estimate: Callable[[], Estimate] | None = None) -> Job:
    """A Job; compute may take (prepared) alone when it reports no progress."""
    import inspect

    if len(inspect.signature(compute).parameters) == 1:
        pure = compute
        compute = lambda prepared, progress: pure(prepared)  # noqa: E731
    return Job(tuple(key), prepare, compute, title, estimate)


def ready(key: tuple, compute: Callable[[], Any], title: str = "",
          estimate: Callable[[], Estimate] | None = None) -> Job:
    """A job with nothing to prepare: compute() never touches the user's model (fits on stored features)."""
    return Job(tuple(key), lambda: None, lambda _, progress: compute(), title, estimate)
