"""The one place that probes hardware: the torch device, the memory a new allocation may take, the CPU's cache."""
import contextlib
import math
import os
import time
from pathlib import Path

import torch

ENV_VAR = "EXPLORER_DEVICE"
CHOICES = ("auto", "cuda", "mps", "cpu")
MEMINFO = "/proc/meminfo"  # Linux's memory report (MemAvailable: free pages plus the reclaimable cache)
PROC_STATUS = Path("/proc/self/status")  # VmSize: the address space this process maps now
PROC_CGROUP = Path("/proc/self/cgroup")  # which cgroup this process is in, per hierarchy
CGROUP = Path("/sys/fs/cgroup")  # where the cgroup hierarchies are mounted (v2 here, v1 under memory/)
NO_LIMIT = 1 << 62  # cgroup v1 writes "no limit" as a huge number (9223372036854771712)
SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
FALLBACK_CACHE = 32 * 2**20  # bytes, where the OS does not say (a common server L3)
UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


def pick_device(prefer: str | None = None) -> torch.device:
    """Device by argument, then $EXPLORER_DEVICE, then CUDA, Apple MPS, CPU."""
    choice = (prefer or os.environ.get(ENV_VAR) or "auto").lower()
    base = choice.split(":")[0]
    if base not in CHOICES:
        raise ValueError(f"unknown device {choice!r}; choose one of {', '.join(CHOICES)} (e.g. 'cuda:1')")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"device {choice!r} asked for, but Apple MPS is not available here; use 'cpu' or 'auto'")
    return torch.device(choice)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a parameterless model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def physical_available(meminfo=None) -> int:
    """Physical memory available to a new allocation: psutil's `available`, else MemAvailable of /proc/meminfo.

    Not the free pages (SC_AVPHYS_PAGES): the page cache is reclaimable, so free pages understate it many times.
    """
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open(meminfo or MEMINFO) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
    except OSError:
        pass
    try:  # no /proc (macOS): total physical memory as an upper bound rather than a refusal
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _number(path: Path) -> int | None:
    """The integer in a one-value file (cgroup's 'max' and a missing file: None)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat(path: Path, key: str) -> int:
    """One entry of a 'key value' file such as memory.stat (0 when absent)."""
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == key and parts[1].isdigit():
                return int(parts[1])
    return 0


def address_space_room(status: Path | None = None) -> int | None:
    """Bytes RLIMIT_AS still lets this process map (its soft limit less VmSize); None without a limit."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(0, soft - _stat(Path(status or PROC_STATUS), "VmSize:") * 1024)  # VmSize: '   3892 kB' after the key


def cgroup_levels(controller: str, root: Path | None = None, proc: Path | None = None):
    """Yield (directory, v2) for each level of this process's cgroups that `controller` ('memory', 'cpu') reads,
    from its own cgroup up to the mount's root: v2's unified tree and v1's `root/controller` tree."""
    try:
        lines = Path(proc or PROC_CGROUP).read_text().splitlines()
    except OSError:
        return
    root = Path(root or CGROUP)
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]  # 'id:controllers:path'; v2's controllers: ''
        if not path:
            continue
        if controllers == "":
            base, v2 = root, True
        elif controller in controllers.split(","):
            base, v2 = root / controller, False
        else:
            continue
        here = base / path.lstrip("/")
        if not here.is_dir():  # in a container, its own cgroup is mounted as the root
            here = base
        while True:
            yield here, v2
            if here == base or base not in here.parents:
                break
            here = here.parent


def cgroup_room(root: Path | None = None, proc: Path | None = None) -> int | None:
    """Bytes this process's memory cgroups still allow, the tightest level up to the mount's root; None without
    a limit. v2: memory.max - memory.current; v1: memory.limit_in_bytes - memory.usage_in_bytes; both plus the
    inactive file cache, which the kernel reclaims before it refuses memory (as `docker stats` counts it)."""
    rooms = []
    for here, v2 in cgroup_levels("memory", root, proc):
        files = (("memory.max", "memory.current", "inactive_file") if v2 else
                 ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"))
        limit, usage = _number(here / files[0]), _number(here / files[1])
        if limit is not None and usage is not None and limit < NO_LIMIT:
            rooms.append(max(0, limit - usage + _stat(here / "memory.stat", files[2])))
    return min(rooms, default=None)


def available_ram(meminfo=None, status: Path | None = None, cgroup: Path | None = None,
                  proc_cgroup: Path | None = None) -> int:
    """Memory a new CPU allocation can take: the smallest of the physical memory available, what RLIMIT_AS leaves
    and what the memory cgroup (a container's or Binder pod's limit) leaves."""
    rooms = (physical_available(meminfo), address_space_room(status), cgroup_room(cgroup, proc_cgroup))
    return min(r for r in rooms if r is not None)


def free_bytes(device: torch.device) -> int:
    """Memory a new allocation can use on the device (CUDA: mem_get_info's free; otherwise available RAM)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_ram()


def cache_bytes(root: Path | None = None) -> int:
    """The largest CPU cache in bytes (Linux sysfs 'index*/size', e.g. '32768K'), or FALLBACK_CACHE."""
    sizes = []
    for p in Path(root or SYSFS_CACHE).glob("index*/size"):
        text = p.read_text().strip().upper()
        with contextlib.suppress(ValueError):
            sizes.append(int(text[:-1]) * UNITS[text[-1]] if text[-1:] in UNITS else int(text))
    return max(sizes, default=FALLBACK_CACHE)


# --- threads: how many torch may use, from the cores this process can actually have ---------------------------

SMALL_OP = 1 << 18  # elements: an operation smaller than this runs on one thread (a 256 x 256 block and smaller)
PROBE_ELEMENTS = 1 << 16  # the probe's matrix: 256 x 256, a few ms per product


def cgroup_cpus(root: Path | None = None, proc: Path | None = None) -> float | None:
    """Cores the CPU cgroup's quota allows (quota / period, the tightest level up to the mount's root); None
    without a quota. v2: cpu.max 'quota period' ('max period': none); v1: cpu.cfs_quota_us / cpu.cfs_period_us
    (-1: none). A Binder pod or `docker --cpus 1` writes one here while the affinity still shows every core."""
    quotas = [q for here, v2 in cgroup_levels("cpu", root, proc) for q in _quota(here, v2)]
    return min(quotas, default=None)


def _quota(here: Path, v2: bool) -> list[float]:
    """[cores] of one cgroup directory's quota, [] without one."""
    try:
        if v2:
            quota, period = (here / "cpu.max").read_text().split()[:2]
        else:
            quota, period = (here / "cpu.cfs_quota_us").read_text(), (here / "cpu.cfs_period_us").read_text()
        quota, period = int(quota), int(period)
    except (OSError, ValueError):  # 'max', a missing file
        return []
    return [quota / period] if quota > 0 and period > 0 else []


def affinity_cpus() -> int:
    """Cores this process may run on (its CPU affinity: `taskset -c 0` gives 1), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def available_cores(quota: float | None = None, affinity: int | None = None) -> int:
    """Whole cores this process can have: the affinity, capped by the cgroup quota rounded down (at least 1): a
    thread beyond the quota is throttled mid-operation, and torch's other threads then wait for it."""
    quota = cgroup_cpus() if quota is None else quota
    cores = affinity_cpus() if affinity is None else affinity
    if quota is not None and quota > 0:
        cores = min(cores, max(1, math.floor(quota + 1e-9)))
    return max(1, cores)


def parallel_gain(threads: int, seconds: float = 0.02) -> float:
    """How much faster `threads` torch threads run a 256 x 256 matrix product now than one thread does: about
    `threads` on idle cores, near or below 1 where other processes hold them (each parallel step then waits for its
    slowest thread). Two timed bursts of `seconds` each; torch's thread count is restored."""
    a = torch.ones(256, 256)
    before = torch.get_num_threads()
    rates = []
    try:
        for n in (1, threads):
            torch.set_num_threads(n)
            torch.mm(a, a)  # warm: the thread pool exists before the clock starts
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                torch.mm(a, a)
                done += 1
            rates.append(done / (time.perf_counter() - start))
    finally:
        torch.set_num_threads(before)
    return rates[1] / rates[0]


def torch_threads(quota: float | None = None, affinity: int | None = None, gain=None, env=None) -> int:
    """torch's intra-op threads for large operations: the cores available (affinity, cgroup quota); one where a
    short probe (`gain(n)`, default parallel_gain) finds n threads no faster than 1.25x one thread. A user's
    OMP_NUM_THREADS or MKL_NUM_THREADS is kept as it is."""
    env = os.environ if env is None else env
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if str(env.get(var, "")).strip().isdigit() and int(env[var]) > 0:
            return int(env[var])
    n = available_cores(quota, affinity)
    if n > 1 and (gain or parallel_gain)(n) < 1.25:
        return 1
    return n


def set_torch_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to n (default torch_threads()); returns the count set."""
    n = torch_threads() if n is None else max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def threads_for(numel: int, threads: int | None = None) -> int:
    """Threads for one operation of numel elements: 1 below SMALL_OP (a parallel step there costs more in waiting
    for the other threads than it saves, most of all on a loaded machine), else `threads` (default torch's)."""
    return 1 if numel < SMALL_OP else (torch.get_num_threads() if threads is None else threads)


@contextlib.contextmanager
def one_thread():
    """torch on one intra-op thread inside the block (small operations, many small trainings), the caller's count
    restored after."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


@contextlib.contextmanager
def fitted_threads(n: int | None = None):
    """torch on n intra-op threads inside the block (default torch_threads(): the cores available, one where they
    are contended), the caller's count restored after. The executor runs every job's compute in one."""
    before = torch.get_num_threads()
    n = set_torch_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
