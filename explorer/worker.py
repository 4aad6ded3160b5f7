"""What runs inside an engine's worker process (explorer.engines): the data a map's tasks share, read once per worker
and kept, and malloc's heap kept through a task where the worker's environment would return every large block."""
from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_MAX = 32 << 20  # glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
MMAP_DEFAULT = 128 << 10  # glibc's mmap threshold when MALLOC_TRIM_THRESHOLD_ is set (the dynamic one is off)


@dataclass(frozen=True)
class Shared:
    """A map's shared data named by a content token; `source` is where a worker reads it on its first task: a
    pickle file (joblib's process backends) or a Ray ObjectRef. Equal and hashed by the token only."""

    token: str
    source: Any = field(compare=False)

    def load(self):
        """The data, read from its source (one read and unpickling)."""
        if isinstance(self.source, str):
            with open(self.source, "rb") as f:
                return pickle.load(f)
        import ray

        return ray.get(self.source)


class Kept:
    """One slot holding the data of the latest token (the old data dropped before the new is read)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token, self.data = None, None

    def get(self, shared: Shared):
        """The data of `shared`, read only when its token is not the one held."""
        with self.lock:
            if self.token != shared.token:
                self.token, self.data = None, None
                self.data, self.token = shared.load(), shared.token
            return self.data


KEPT = Kept()  # the package's one module-level state: see unpack


def unpack(shared: Shared):
    """The shared data in this worker process: read on the first task of a map, the same object for the rest.

    KEPT is the package's one module-level state, by necessity: a worker process keeps no object of ours between
    tasks, so the cache lives in this module, bounded to one map's data (by its token only: a Ray reference is not
    kept, so the object store can free it after the map; a worker that joblib or Ray keeps warm holds the data until
    the next map or its exit). The kernel never calls it: there the data is passed as it is.
    """
    return KEPT.get(shared)


def _glibc():
    """The C library when it is glibc (mallopt, malloc_trim), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextlib.contextmanager
def heap_kept():
    """Inside: malloc reuses freed blocks up to 32 MB, where the environment sets MALLOC_TRIM_THRESHOLD_ (a Dask
    nanny sets 65536). That setting also fixes glibc's mmap threshold at 128 KiB, so every larger tensor would be a
    fresh mmap whose pages fault on first touch (measured: a 250-image saliency partition 830,000 faults, +1.2 s of
    system time, against 12,000). On exit the environment's thresholds come back and a trim returns the freed
    memory, as the setting intends. Elsewhere (the kernel, other allocators) it does nothing. With several tasks in
    one process, the first to finish restores the thresholds for all: only speed, never a result, depends on it."""
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = None if trim is None or "MALLOC_MMAP_THRESHOLD_" in os.environ else _glibc()
    if libc is None or not trim.isdigit():
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_MAX)
    libc.mallopt(M_TRIM_THRESHOLD, 8 * MMAP_MAX)
    try:
        yield
    finally:
        libc.mallopt(M_TRIM_THRESHOLD, int(trim))
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_DEFAULT)
        libc.malloc_trim(0)
