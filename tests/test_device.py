"""Hardware probes: the memory a new allocation may take respects RLIMIT_AS and the memory cgroup (v2 and v1)."""
import subprocess
import sys

import pytest

from explorer import device as hw

GiB = 2**30


@pytest.fixture
def plenty(monkeypatch, tmp_path):
    """18 GiB physically available (no psutil, a fake /proc/meminfo), no RLIMIT_AS: only the cgroup can limit."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   18874368 kB\n")
    monkeypatch.setitem(sys.modules, "psutil", None)
    monkeypatch.setattr(hw, "MEMINFO", str(meminfo))
    monkeypatch.setattr(hw, "address_space_room", lambda status=None: None)
    return 18 * GiB


def child_available(limit: str) -> int:
    """available_ram() in a fresh interpreter whose RLIMIT_AS soft limit is set by the expression `limit`."""
    code = ("import resource; from explorer import device as hw; "
            "vm = [int(v.split()[1]) * 1024 for v in open('/proc/self/status') if v.startswith('VmSize:')][0]; "
            "hard = resource.getrlimit(resource.RLIMIT_AS)[1]; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, hard)); print(hw.available_ram())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_available_ram_under_an_address_space_limit():
    """Issue 22.9: under RLIMIT_AS = 12 GiB the session reported 18.6 GiB available."""
    assert 0 < child_available(f"{12 * GiB}") <= 12 * GiB
    assert 0 < child_available(f"vm + {GiB}") <= GiB  # what the process already maps counts against the limit


def test_address_space_room_reads_vmsize(tmp_path, monkeypatch):
    import resource

    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 4000000 kB\nVmSize:\t 3145728 kB\nVmRSS:\t 100 kB\n")
    monkeypatch.setattr(resource, "getrlimit", lambda which: (12 * GiB, resource.RLIM_INFINITY))
    assert hw.address_space_room(status) == 9 * GiB
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert hw.address_space_room(status) is None


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limit_the_tightest_level_wins(tmp_path, plenty):
    root, proc = tmp_path / "cgroup", tmp_path / "proc_cgroup"
    write(proc, "0::/user.slice/app.scope\n")
    write(root / "user.slice/app.scope/memory.max", f"{4 * GiB}\n")
    write(root / "user.slice/app.scope/memory.current", f"{GiB}\n")
    write(root / "user.slice/app.scope/memory.stat", f"anon {GiB // 2}\ninactive_file {GiB // 4}\nactive_file 7\n")
    write(root / "user.slice/memory.max", "max\n")  # no limit at this level
    write(root / "user.slice/memory.current", f"{3 * GiB}\n")
    assert hw.cgroup_room(root, proc) == 4 * GiB - GiB + GiB // 4  # the reclaimable cache counts as room
    assert hw.available_ram(cgroup=root, proc_cgroup=proc) == 4 * GiB - GiB + GiB // 4
    write(root / "user.slice/memory.max", f"{5 * GiB}\n")  # the parent leaves 2 GiB: less than the child's 3.25
    assert hw.available_ram(cgroup=root, proc_cgroup=proc) == 2 * GiB
    write(root / "user.slice/memory.max", f"{100 * GiB}\n")
    write(root / "user.slice/app.scope/memory.max", f"{100 * GiB}\n")  # the cgroup allows more than there is
    assert hw.available_ram(cgroup=root, proc_cgroup=proc) == plenty


def test_cgroup_v1_limit_and_its_no_limit_value(tmp_path, plenty):
    root, proc = tmp_path / "cgroup", tmp_path / "proc_cgroup"
    write(proc, "9:name=systemd:/\n4:memory:/process_api/e37e\n0::/\n")
    mem = root / "memory/process_api/e37e"
    write(mem / "memory.limit_in_bytes", f"{2 * GiB}\n")
    write(mem / "memory.usage_in_bytes", f"{GiB}\n")
    write(mem / "memory.stat", f"cache 5\ninactive_file {GiB // 8}\ntotal_inactive_file {GiB // 4}\n")
    write(root / "memory/memory.limit_in_bytes", "9223372036854771712\n")  # v1's 'no limit'
    write(root / "memory/memory.usage_in_bytes", f"{10 * GiB}\n")
    assert hw.available_ram(cgroup=root, proc_cgroup=proc) == GiB + GiB // 4
    write(proc, "4:memory:/docker/abc\n")  # a container: its own cgroup is the mount's root
    write(root / "memory/memory.limit_in_bytes", f"{12 * GiB}\n")
    assert hw.cgroup_room(root, proc) == 2 * GiB


def test_no_cgroup_no_limit(tmp_path, plenty):
    assert hw.cgroup_room(tmp_path, tmp_path / "missing") is None
    write(tmp_path / "proc", "0::/\ngarbage\n")
    assert hw.cgroup_room(tmp_path, tmp_path / "proc") is None
    assert hw.available_ram(cgroup=tmp_path, proc_cgroup=tmp_path / "proc") == plenty



# --- the thread policy (issue 27): cores from the cgroup quota and the affinity, one thread where n gain nothing ---

def test_cpu_quota_v2_tightest_level_and_no_quota(tmp_path):
    root, proc = tmp_path / "cgroup", tmp_path / "proc_cgroup"
    write(proc, "0::/kubepods/pod1/c1\n")
    write(root / "kubepods/pod1/c1/cpu.max", "max 100000\n")  # no quota at the container's level
    write(root / "kubepods/pod1/cpu.max", "150000 100000\n")  # the pod's: 1.5 cores
    write(root / "kubepods/cpu.max", "400000 100000\n")
    assert hw.cgroup_cpus(root, proc) == 1.5
    assert hw.available_cores(quota=1.5, affinity=16) == 1  # a thread beyond the quota is throttled: rounded down
    assert hw.available_cores(quota=0.5, affinity=16) == 1  # at least one
    assert hw.available_cores(quota=3.0, affinity=2) == 2  # the affinity caps the quota
    write(root / "kubepods/pod1/cpu.max", "max 100000\n")
    assert hw.cgroup_cpus(root, proc) == 4.0
    assert hw.cgroup_cpus(tmp_path, tmp_path / "missing") is None


def test_cpu_quota_v1_and_its_no_quota_value(tmp_path):
    root, proc = tmp_path / "cgroup", tmp_path / "proc_cgroup"
    write(proc, "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n")
    write(root / "cpu/docker/abc/cpu.cfs_quota_us", "200000\n")
    write(root / "cpu/docker/abc/cpu.cfs_period_us", "100000\n")
    write(root / "cpu/cpu.cfs_quota_us", "-1\n")  # v1's 'no quota'
    write(root / "cpu/cpu.cfs_period_us", "100000\n")
    assert hw.cgroup_cpus(root, proc) == 2.0
    write(root / "cpu/docker/abc/cpu.cfs_quota_us", "-1\n")
    assert hw.cgroup_cpus(root, proc) is None


def test_torch_threads_from_cores_probe_and_environment():
    calls = []

    def gain(value):
        return lambda n: calls.append(n) or value

    assert hw.torch_threads(quota=None, affinity=4, gain=gain(3.1), env={}) == 4
    assert calls == [4]  # the probe measures the count it would choose
    assert hw.torch_threads(quota=None, affinity=2, gain=gain(1.05), env={}) == 1  # contended: one thread
    assert hw.torch_threads(quota=1.0, affinity=8, gain=gain(9.0), env={}) == 1  # one core: no probe needed
    assert calls == [4, 2]
    assert hw.torch_threads(quota=None, affinity=8, gain=gain(1.0), env={"OMP_NUM_THREADS": "3"}) == 3  # the user's
    assert hw.torch_threads(quota=None, affinity=2, gain=gain(2.0), env={"OMP_NUM_THREADS": "junk"}) == 2


def test_affinity_and_one_small_operation_thread():
    import os

    import torch

    if hasattr(os, "sched_getaffinity"):
        assert hw.affinity_cpus() == len(os.sched_getaffinity(0))
    assert hw.threads_for(256 * 256, threads=4) == 1  # a 256 x 256 block: one thread
    assert hw.threads_for(hw.SMALL_OP, threads=4) == 4
    before = torch.get_num_threads()
    with hw.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    n = hw.set_torch_threads(before)
    assert n == before == torch.get_num_threads()
    assert hw.parallel_gain(1, seconds=0.001) > 0  # the probe runs and restores the count
    assert torch.get_num_threads() == before


def test_a_jobs_thread_count_stays_on_its_own_thread():
    """fitted_threads on a worker (as the executor runs every compute) leaves the kernel's thread on its own count
    while the job runs and after: torch's intra-op count is the calling thread's OpenMP setting once that thread
    has run torch (a kernel's thread has, before any job), so a job on one thread does not slow a slider's redraw."""
    import threading

    import torch

    from explorer.device import fitted_threads

    torch.set_num_threads(2)
    mine = torch.get_num_threads()
    inside, seen, go, done = [], [], threading.Event(), threading.Event()

    def job():
        with fitted_threads(1) as n:
            inside.append((n, torch.get_num_threads()))
            go.set()
            done.wait(10)

    t = threading.Thread(target=job)
    t.start()
    go.wait(10)
    seen.append(torch.get_num_threads())
    done.set()
    t.join()
    assert inside == [(1, 1)]
    assert seen == [mine] and torch.get_num_threads() == mine


def test_cgroup_levels_walk_from_own_cgroup_to_the_mount_root(tmp_path):
    root, proc = tmp_path / "cgroup", tmp_path / "proc_cgroup"
    write(proc, "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n9:name=systemd:/\n0::/kubepods/pod1\n")
    for d in ("kubepods/pod1", "cpu/docker/abc", "memory/docker/abc"):
        (root / d).mkdir(parents=True)
    v2 = [(root / "kubepods/pod1", True), (root / "kubepods", True), (root, True)]
    assert list(hw.cgroup_levels("cpu", root, proc)) == [
        (root / "cpu/docker/abc", False), (root / "cpu/docker", False), (root / "cpu", False), *v2]
    assert list(hw.cgroup_levels("memory", root, proc))[:3] == [
        (root / "memory/docker/abc", False), (root / "memory/docker", False), (root / "memory", False)]
    write(proc, "4:memory:/elsewhere\n")  # a container: its own cgroup is the mount's root, one level
    assert list(hw.cgroup_levels("memory", root, proc)) == [(root / "memory", False)]
    assert list(hw.cgroup_levels("cpu", root, proc)) == []
    assert list(hw.cgroup_levels("cpu", root, tmp_path / "missing")) == []
