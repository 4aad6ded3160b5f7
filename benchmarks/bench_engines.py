"""The phase chart's quick preset on digits: sequential vs a Dask LocalCluster (worker processes, 1 thread each),
same grid checked exactly; cluster start-up timed apart; rounds interleaved (the machine is shared, its load moves).
Optionally a local Ray instance. --profile times each task inside its process (wall and CPU seconds).

--loky also runs joblib's loky backend with --workers processes in the same rounds (its workers start on the first).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_engines.py [--workers 2] [--rounds 3] [--profile] [--ray] [--loky]
"""
import argparse
import os
import statistics
import time

import numpy as np

from explorer import load_dataset
from explorer.codes import PRESETS, sweep
from explorer.engines import engine_info, map_tasks


def timed(label, fn):
    start = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - start:.1f} s", flush=True)
    return out, time.perf_counter() - start


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def threads():
    """What a process gives torch: its intra-op threads and the thread variables of its environment."""
    import torch

    return {"torch threads": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
            **{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}}


def cpu(client) -> float:
    """CPU seconds used so far by this process (client and scheduler) and the Dask workers."""
    return time.process_time() + sum(client.run(time.process_time).values())


def profiled_task(data, job):
    """sweep's task, with its wall and CPU seconds and its process id (sent by value: this is __main__)."""
    from explorer.codes.sweep import _task

    w0, c0 = time.perf_counter(), time.process_time()
    _task(data, job)
    return time.perf_counter() - w0, time.process_time() - c0, os.getpid()


def profile(data, grid, engine, label):
    """Per-task wall and CPU time on an engine, and the makespan against the sum of the tasks' walls."""
    jobs = [(w, n, tuple(sorted(grid["epochs"])), 1, 0, 3e-3, 9) for w in grid["widths"] for n in grid["sizes"]]
    start = time.perf_counter()
    out = map_tasks(engine, profiled_task, jobs, shared=data)
    span = time.perf_counter() - start
    wall, cpu = sum(o[0] for o in out), sum(o[1] for o in out)
    print(f"  {label}: makespan {span:.1f} s; tasks' wall {wall:.1f} s, CPU {cpu:.1f} s (CPU/wall {cpu / wall:.2f}); "
          f"processes {len({o[2] for o in out})}; longest task {max(o[0] for o in out):.1f} s; {load()}", flush=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="sequential and Dask runs, alternating which goes first")
    p.add_argument("--profile", action="store_true", help="also time each task inside its process")
    p.add_argument("--ray", action="store_true", help="also a local Ray instance with --workers CPUs")
    p.add_argument("--loky", action="store_true", help="also joblib's loky backend with --workers processes")
    p.add_argument("--widths", type=int, nargs="+", help="a smaller grid than the preset's widths")
    a = p.parse_args()
    grid = dict(PRESETS["quick (digits, CPU)"])
    if a.widths:
        grid["widths"] = tuple(a.widths)
    data = load_dataset("digits")
    print(f"quick preset {grid}; {os.cpu_count()} CPUs, {load()} at start (a shared machine: other work runs "
          f"beside this)", flush=True)
    from distributed import Client, LocalCluster

    (cluster, client), t_up = timed("Dask LocalCluster start", lambda: (
        lambda c: (c, Client(c)))(LocalCluster(n_workers=a.workers, processes=True, threads_per_worker=1,
                                               dashboard_address=None)))
    print(engine_info(client))
    print(f"threads: this process {threads()}; workers {list(client.run(threads).values())}")
    import importlib

    timed("workers import explorer and torch (once per cluster)",
          lambda: client.run(importlib.import_module, "explorer.codes.sweep"))
    seq = None
    names = ("sequential", "dask") + (("loky",) if a.loky else ())
    t = {name: [] for name in names}
    runs = {"sequential": lambda: sweep(data, backend="sequential", **grid),
            "dask": lambda: sweep(data, engine=client, **grid),
            "loky": lambda: sweep(data, backend="loky", n_jobs=a.workers, **grid)}
    for r in range(a.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            c0 = cpu(client)
            got, dt = timed(f"round {r + 1}: {name} ({load()})", runs[name])
            used = cpu(client) - c0
            print(f"  CPU seconds of this process and the Dask workers: {used:.1f} (cores obtained {used / dt:.2f}"
                  f"{'; loky workers not counted' if name == 'loky' else ''})", flush=True)
            t[name].append(dt)
            seq = got if seq is None and name == "sequential" else seq
            if name != "sequential" and seq is not None:
                assert all(np.array_equal(seq[k], got[k]) for k in ("redundancy ratio", "k-NN")), "grids differ"
    ms, md = statistics.median(t["sequential"]), statistics.median(t["dask"])
    print(f"identical grids: True; medians: sequential {ms:.1f} s, Dask {md:.1f} s; speed-up {ms / md:.2f}x "
          f"({ms / (md + t_up):.2f}x counting the cluster start once); per round "
          + ", ".join(f"{s / d:.2f}x" for s, d in zip(t["sequential"], t["dask"])), flush=True)
    if a.loky:
        ml = statistics.median(t["loky"])
        print(f"loky {a.workers} processes: median {ml:.1f} s (first round {t['loky'][0]:.1f} s with the workers' "
              f"start); speed-up {ms / ml:.2f}x", flush=True)
    if a.profile:
        print("per-task profile:")
        profile(data, grid, "sequential", "sequential")
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count())  # what a kernel started without OMP_NUM_THREADS=1 gives torch
        profile(data, grid, "sequential", f"sequential, torch on {os.cpu_count()} threads")
        torch.set_num_threads(before)
        profile(data, grid, client, "Dask")
    client.close()
    cluster.close()
    if a.ray:
        import ray

        _, t_rup = timed("Ray start", lambda: ray.init(num_cpus=a.workers, include_dashboard=False,
                                                        logging_level="ERROR"))
        got, t_ray = timed(f"Ray, {a.workers} CPUs", lambda: sweep(data, engine=ray, **grid))
        same = all(np.array_equal(seq[k], got[k]) for k in ("redundancy ratio", "k-NN"))
        print(f"identical grids: {same}; speed-up sequential / Ray {ms / t_ray:.2f}x")
        ray.shutdown()
    print(f"{load()} at the end")


if __name__ == "__main__":
    main()
