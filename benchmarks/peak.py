"""Peak memory of a benchmark's calls (issue 27): how far one call raises this process's resident set at its peak.

torch's CPU allocator is not seen by tracemalloc, so the measure is the kernel's own high-water mark of the resident
set (VmHWM), reset before the call through /proc/self/clear_refs (Linux 4.0 and later), after glibc's malloc_trim
has handed back the memory earlier calls freed (else a call reusing it shows no rise); on CUDA, torch's peak of
allocated memory. Only the first call of a wrapped function is measured (a benchmark's warm-up, untimed): trimming
before a timed call would make it pay page faults the others do not. Where none of this exists: None ('?').

    peaks = Peaks()
    fn = peaks.wrap("ours", fn)     # fn's first call records its rise: peaks.mib("ours")
"""
from __future__ import annotations

from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
MiB = 2**20


def status_bytes(key: str) -> int | None:
    """One 'kB' entry of /proc/self/status (VmRSS:, VmHWM:) in bytes; None without /proc."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_high_water() -> bool:
    """Hand freed heap memory back to the OS (glibc's malloc_trim), then set the resident set's high-water mark
    (VmHWM) to the current resident set; False where Linux won't."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed memory may stay resident, the rise then reads low
        pass
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def process_peak_mib() -> float | None:
    """This process's peak resident set over its whole life (getrusage's maxrss, kB on Linux), in MiB."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MiB


class Peaks:
    """The rise of memory over the start of the first call, per name, of each wrapped function."""

    def __init__(self, device=None):
        self.cuda = getattr(device, "type", device) == "cuda"
        self.rise: dict[str, int | None] = {}

    def wrap(self, name: str, fn):
        """fn, recording under `name` how far its first call raises memory above where it started."""
        def measured(*args, **kwargs):
            if name in self.rise:
                return fn(*args, **kwargs)
            if self.cuda:
                import torch

                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                before = torch.cuda.memory_allocated()
            else:
                before = status_bytes("VmRSS:") if reset_high_water() else None
            try:
                return fn(*args, **kwargs)
            finally:
                if self.cuda:
                    torch.cuda.synchronize()
                    top = torch.cuda.max_memory_allocated()
                else:
                    top = status_bytes("VmHWM:") if before is not None else None
                self.rise[name] = None if top is None or before is None else max(0, top - before)
        return measured

    def mib(self, name: str) -> float | None:
        """The rise recorded under `name`, in MiB (None: not measurable here)."""
        r = self.rise.get(name)
        return None if r is None else r / MiB

    def text(self, name: str) -> str:
        """mib(name) for a table: '123' or '?'."""
        m = self.mib(name)
        return "?" if m is None else f"{m:.0f}"
