"""The one place that probes hardware: the torch device, the memory a new allocation may take, the CPU's cache."""
import contextlib
import os
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


def cgroup_room(root: Path | None = None, proc: Path | None = None) -> int | None:
    """Bytes this process's memory cgroups still allow, the tightest level up to the mount's root; None without
    a limit. v2: memory.max - memory.current; v1: memory.limit_in_bytes - memory.usage_in_bytes; both plus the
    inactive file cache, which the kernel reclaims before it refuses memory (as `docker stats` counts it)."""
    try:
        lines = Path(proc or PROC_CGROUP).read_text().splitlines()
    except OSError:
        return None
    rooms, root = [], Path(root or CGROUP)
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]  # 'id:controllers:path'; v2's controllers: ''
        if not path:
            continue
        if controllers == "":
            base, files = root, ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):
            base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        here = base / path.lstrip("/")
        if not here.is_dir():  # in a container, its own cgroup is mounted as the root
            here = base
        while True:
            limit, usage = _number(here / files[0]), _number(here / files[1])
            if limit is not None and usage is not None and limit < NO_LIMIT:
                rooms.append(max(0, limit - usage + _stat(here / "memory.stat", files[2])))
            if here == base or base not in here.parents:
                break
            here = here.parent
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
