"""A model of a W-worker cluster from times measured here: size a cluster before renting one (issue 26).

    OMP_NUM_THREADS=1 python benchmarks/cluster_model.py [--partitions 16] [--partition 64] [--rounds 2]
        [--root /work/shared/data/mnist-10k] [--dataset 10000] [--no-check]

Inputs, measured on this machine, each task on one torch thread:
- the phase sweep's tasks (quick preset on digits: 18 trainings), each timed in this process;
- a whole-dataset saliency-metrics partition: Grad-CAM (SmallCNN, seeded) and deletion/insertion (20 steps) of
  --partition MNIST images of --root; the dataset is --dataset images, so ceil(dataset / partition) partitions;
- the scheduler's cost per task: 400 empty tasks against 1 through explorer.engines.map_tasks on a Dask
  LocalCluster of 2 worker processes (1 thread each), and its fixed cost per job (probe, scatter, gather);
- shipping: scattering each job's shared data (the digits; the model and the images, all --dataset of them for
  the whole-dataset row) to every worker.

Model: T(W) = fixed + ship + max(sum(t) / W, max(t)) + tasks x overhead (the scheduler is one process, so its
per-task cost does not divide by W); beside it a list schedule of the measured tasks (longest first) on W workers.
The check (unless --no-check): the same jobs on Dask LocalClusters of 1 and 2 workers, measured against the model.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def empty(shared, item):
    """A task that does nothing (sent by value: this module is __main__ when run)."""
    return item


def saliency_partition(shared, item):
    """Grad-CAM maps and deletion/insertion AUCs of images[start:stop] (one partition of a whole-dataset job)."""
    import torch

    from explorer.device import one_thread
    from explorer.models import SmallCNN
    from explorer.saliency import GradCAM, deletion_insertion

    state, images = shared  # a state dict: an nn.Module through Dask's scatter loses its hooks' OrderedDicts
    model = SmallCNN(1).eval()
    model.load_state_dict(state)
    start, stop = item
    x = images[start:stop]
    with one_thread():
        with torch.no_grad():
            targets = model(x).argmax(1)
        maps = GradCAM("conv3")(model, x, targets)
        out = deletion_insertion(model, x, maps, targets, steps=20, baseline="mean")
    return out["deletion_auc"].numpy(), out["insertion_auc"].numpy()


def sweep_jobs():
    from explorer.codes import PRESETS

    grid = PRESETS["quick (digits, CPU)"]
    epochs = tuple(sorted(grid["epochs"]))
    return [(w, n, epochs, 1, 0, 3e-3, 9) for w in grid["widths"] for n in grid["sizes"]]


def saliency_shared(root: str, n: int):
    """(SmallCNN's seeded state dict; the first n MNIST images of root as float32)."""
    from explorer import load_dataset
    from explorer.models import SmallCNN

    torch.manual_seed(0)
    d = load_dataset("mnist", root=root)
    x = torch.cat([d.inputs("train"), d.inputs("test")])[:n].float().clone()  # a view would pickle all its storage
    return SmallCNN(1).state_dict(), x


def task_times(fn, shared, items, rounds: int) -> list[float]:
    """Per-task wall seconds in this process on one torch thread (the median of `rounds`)."""
    from explorer.device import one_thread

    times = []
    with one_thread():
        for item in items:
            runs = []
            for _ in range(rounds):
                t = time.perf_counter()
                fn(shared, item)
                runs.append(time.perf_counter() - t)
            times.append(statistics.median(runs))
    return times


def lpt(times: list[float], workers: int) -> float:
    """Makespan of a list schedule of the tasks, longest first, each to the worker free first."""
    free = [0.0] * workers
    for t in sorted(times, reverse=True):
        i = free.index(min(free))
        free[i] += t
    return max(free)


def scheduler_costs(client, data) -> dict:
    """Dask's cost per task and per job through map_tasks (median of 3), and the scatter of `data` (MB/s)."""
    from explorer.engines import map_tasks

    one, many = [], []
    for _ in range(3):
        t = time.perf_counter()
        map_tasks(client, empty, [0])
        one.append(time.perf_counter() - t)
        t = time.perf_counter()
        map_tasks(client, empty, list(range(400)))
        many.append(time.perf_counter() - t)
    fixed, per = statistics.median(one), (statistics.median(many) - statistics.median(one)) / 399
    return {"fixed s": fixed, "per task s": per, **scatter_cost(client, data)}


def scatter_cost(client, data) -> dict:
    """The size of `data` pickled (MB) and the median seconds of 3 scatters of it to every worker."""
    import pickle

    ship = []
    for _ in range(3):
        t = time.perf_counter()
        f = client.scatter(data, broadcast=True, hash=False)
        ship.append(time.perf_counter() - t)
        client.cancel(f)
    return {"MB": len(pickle.dumps(data)) / 1e6, "scatter s": statistics.median(ship)}


def predict(times: list[float], costs: dict, workers: int) -> tuple[float, float]:
    """(formula, list schedule) seconds on `workers` workers."""
    base = costs["fixed s"] + costs["scatter s"] * max(1, workers / 2) + len(times) * costs["per task s"]
    return base + max(sum(times) / workers, max(times)), base + lpt(times, workers)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/work/shared/data/mnist-10k")
    p.add_argument("--dataset", type=int, default=10000, help="images in the whole-dataset saliency job")
    p.add_argument("--partition", type=int, default=64, help="images per saliency task")
    p.add_argument("--partitions", type=int, default=16, help="saliency partitions timed (and run in the check)")
    p.add_argument("--rounds", type=int, default=2, help="timings per task (median)")
    p.add_argument("--no-check", action="store_true", help="skip the 1- and 2-worker Dask runs")
    a = p.parse_args()
    from distributed import Client, LocalCluster

    from explorer import load_dataset
    from explorer.codes.sweep import _task
    from explorer.engines import map_tasks

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs (shared), load {load()} at start; torch threads "
          f"{torch.get_num_threads()}")
    digits, jobs = load_dataset("digits"), sweep_jobs()
    sal = saliency_shared(a.root, a.partition * a.partitions)
    parts = [(i * a.partition, (i + 1) * a.partition) for i in range(a.partitions)]
    workloads = {"phase sweep (quick preset, 18 trainings)": (_task, digits, jobs, 1),
                 f"saliency metrics, {a.partitions} partitions of {a.partition}": (saliency_partition, sal, parts, 1)}
    measured = {k: task_times(fn, shared, items, a.rounds) for k, (fn, shared, items, _) in workloads.items()}
    sal_key = list(workloads)[1]
    whole = math.ceil(a.dataset / a.partition)
    per_part = statistics.median(measured[sal_key])
    measured[f"saliency metrics, whole dataset: {a.dataset} images, {whole} partitions (median partition)"] = \
        [per_part] * whole
    for k, t in measured.items():
        print(f"{k}: {len(t)} tasks, sum {sum(t):.2f} s, median {statistics.median(t) * 1e3:.0f} ms, "
              f"longest {max(t) * 1e3:.0f} ms (load {load()})", flush=True)

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    map_tasks(client, empty, [0, 1])  # the workers' first task: imports
    costs = {k: scheduler_costs(client, shared) for k, (_, shared, _, _) in workloads.items()}
    # the whole-dataset job ships all its images, not only the timed ones
    costs[list(measured)[2]] = {**costs[sal_key], **scatter_cost(client, saliency_shared(a.root, a.dataset))}
    for k, c in costs.items():
        print(f"Dask costs, {k}: fixed {c['fixed s'] * 1e3:.0f} ms per job, {c['per task s'] * 1e3:.2f} ms per task, "
              f"shared data {c['MB']:.1f} MB scattered to 2 workers in {c['scatter s'] * 1e3:.0f} ms (load {load()})")
    print("\n| job | tasks | sum of task times (s) | " + " | ".join(f"W={w}" for w in (1, 2, 4, 8, 16))
          + " |\n|---|---|---|" + "---|" * 5)
    for k, t in measured.items():
        cells = [predict(t, costs[k], w) for w in (1, 2, 4, 8, 16)]
        print(f"| {k} | {len(t)} | {sum(t):.1f} | " + " | ".join(f"{f:.2f} ({s:.2f})" for f, s in cells) + " |")
    print("(formula seconds, list schedule longest-first in brackets)")
    client.close()
    cluster.close()
    if a.no_check:
        return
    print("\ncheck: the jobs on Dask LocalClusters of 1 and 2 workers (worker start not counted), vs the model")
    for w in (1, 2):
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                Client(cl) as c:
            map_tasks(c, empty, list(range(w)))
            for k, (fn, shared, items, _) in workloads.items():
                t = time.perf_counter()
                map_tasks(c, fn, items, shared=shared)
                got = time.perf_counter() - t
                f, s = predict(measured[k], costs[k], w)
                print(f"W={w} {k}: measured {got:.2f} s, model {f:.2f} s (list schedule {s:.2f} s): "
                      f"measured / model {got / f:.2f} (load {load()})", flush=True)
    print(f"load {load()} at the end")


if __name__ == "__main__":
    main()
