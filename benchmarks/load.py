"""A fixed, reproducible competing load for benchmarks: one other process, busy on one core, started and stopped
by the benchmark (a video call on a laptop, a neighbour on a Binder node). `quiet_and_loaded(fn)` runs fn twice.

    with competing_load():          # one busy process pinned to core 0 (where the machine has it)
        ...                         # measure here
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

# a pure-Python spin: no threads, no memory traffic, the same work on every machine
SPIN = "import os\nos.nice(0)\nwhile True:\n    pass\n"


def load_average() -> float:
    """The 1-minute load average (0 where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0.0


@contextlib.contextmanager
def competing_load(processes: int = 1, core: int | None = 0):
    """Inside the block, `processes` other processes each spin on one core (pinned to `core` when this process may
    run there; None: unpinned); they are killed and reaped on exit, also after an exception."""
    procs = []
    try:
        for _ in range(processes):
            p = subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL)
            procs.append(p)
            if core is not None and hasattr(os, "sched_setaffinity") and core in os.sched_getaffinity(0):
                os.sched_setaffinity(p.pid, {core})
        time.sleep(0.3)  # the spinner is running before the first measurement
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def quiet_and_loaded(measure, loaded: bool = True, processes: int = 1):
    """{'quiet': measure(), 'loaded': measure() under competing_load(processes)}, each with the load average
    after it: [(result, load), ...] keyed by condition."""
    out = {"quiet": (measure(), load_average())}
    if loaded:
        with competing_load(processes):
            out["loaded"] = (measure(), load_average())
    return out
