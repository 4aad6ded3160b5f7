"""A whole-dataset saliency-metrics job (Grad-CAM maps, deletion and insertion AUC, sparseness, complexity) on the
10,000 images of ../shared/data/mnist-10k (train and test), local vs a Dask LocalCluster (2 worker processes, 1 thread
each): the partitioned cost as a ratio over the local one, the results checked equal, the per-task overhead apart.

Local runs: 'sequential' in this process with torch at 1 thread (the bit-exact setting every engine uses) and at
the machine's threads (threads=None). Overhead per task: (partitioned wall - the ideal split of the local 1-thread
partition times over the workers, longest first) / tasks, and the round trip of an empty task on the same cluster.
Cluster start-up and the workers' first import of explorer are timed apart (a user's cluster is running, and has
imported once).

CPU per task (user + system seconds, and minor page faults, of this process over the local 1-thread run and of the
workers over the Dask run, per task): what the wall ratio says without the machine's other load, and where a task's
extra cost is (page faults are system time).

Run: python benchmarks/bench_dataset.py [--images 10000] [--size 500] [--steps 10] [--workers 2] [--curve-batch N]
"""
import argparse
import importlib
import operator
import os
import resource
import tempfile
import time

import torch

from explorer import dataset as ds
from explorer.data import torchvision_set
from explorer.engines import map_tasks
from explorer.models import SmallCNN

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist-10k")


def timed(label, fn):
    start = time.perf_counter()
    out = fn()
    took = time.perf_counter() - start
    print(f"{label}: {took:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    return out, took


def warm() -> None:
    """Import what the tasks unpickle, once per worker (a running cluster has done it before the job)."""
    importlib.import_module("explorer.dataset")


def usage() -> tuple[float, float, int]:
    """(user s, system s, minor page faults) of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def cpu_per_task(before, after, tasks: int) -> str:
    """CPU and faults per task between two usage() sums."""
    d = [b - a for a, b in zip(before, after)]
    return f"{(d[0] + d[1]) / tasks:.2f} s CPU ({d[1] / tasks:.2f} s system), {d[2] / tasks:,.0f} page faults"


def ideal(times, workers: int) -> float:
    """The wall of tasks of these times on `workers` with no overhead: longest first, each to the least loaded."""
    loads = [0.0] * workers
    for t in sorted(times, reverse=True):
        loads[loads.index(min(loads))] += t
    return max(loads)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=10000)
    p.add_argument("--size", type=int, default=500, help="images per partition (task)")
    p.add_argument("--steps", type=int, default=10, help="deletion/insertion steps")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--root", default=ROOT)
    p.add_argument("--curve-batch", type=int, default=None, help="images per deletion/insertion forward")
    a = p.parse_args()
    import distributed

    mnist = torchvision_set("mnist", root=a.root)
    x = torch.cat([mnist.inputs("train"), mnist.inputs("test")])[:a.images]
    torch.manual_seed(0)
    model = SmallCNN(1, 10, width=16).eval()
    job = dict(method="Grad-CAM", steps=a.steps, size=a.size)
    if a.curve_batch is not None:
        job["curve_batch"] = a.curve_batch
    tasks = -(-len(x) // a.size)
    print(f"{len(x)} images of {tuple(x.shape[1:])}, {tasks} partitions of {a.size}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        stamps = []  # when each local partition finished: its own time, for the ideal split below
        use0 = usage()
        _, local1 = timed("local, 1 thread", lambda: ds.run_saliency(
            model, x, f"{tmp}/l1", progress=lambda d, t, i: stamps.append(time.perf_counter()), **job))
        local_cpu = cpu_per_task(use0, usage(), tasks)
        _, local_n = timed(f"local, {torch.get_num_threads()} threads",
                           lambda: ds.run_saliency(model, x, f"{tmp}/ln", threads=None, **job))
        cluster, start = timed("cluster start-up", lambda: distributed.LocalCluster(
            n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=None))
        client = distributed.Client(cluster, set_as_default=False)
        try:
            timed("workers' first import of explorer.dataset", lambda: client.run(warm))
            use0 = [sum(v) for v in zip(*client.run(usage).values())]
            _, dask = timed(f"dask, {a.workers} workers", lambda: ds.run_saliency(model, x, f"{tmp}/d",
                                                                                   engine=client, **job))
            dask_cpu = cpu_per_task(use0, [sum(v) for v in zip(*client.run(usage).values())], tasks)
            _, empty = timed("200 empty tasks", lambda: map_tasks(client, operator.add, range(200), shared=0))
        finally:
            client.close()
            cluster.close()
        same = ds.load(f"{tmp}/d")[0].equals(ds.load(f"{tmp}/l1")[0])
    best = min(local1, local_n)
    per_task = [b - a for a, b in zip(stamps, stamps[1:])]  # stamps[0]: the run's start (nothing done yet)
    split = ideal(per_task, a.workers)
    print(f"\nresults equal to the local run: {same}")
    print(f"partitioned / best local: {dask / best:.2f} (dask {dask:.1f} s, local 1 thread {local1:.1f} s, "
          f"local {torch.get_num_threads()} threads {local_n:.1f} s; goal <= 1.10)")
    print(f"ideal split of the local 1-thread partition times on {a.workers} workers: {split:.1f} s (tasks "
          f"{min(per_task):.1f}-{max(per_task):.1f} s); overhead per task over it: {(dask - split) / tasks:.2f} s "
          f"({tasks} tasks); empty task round trip {empty / 200 * 1e3:.1f} ms; cluster start-up {start:.1f} s")
    print(f"per task: local 1 thread {local_cpu}; dask workers {dask_cpu}")


if __name__ == "__main__":
    main()
