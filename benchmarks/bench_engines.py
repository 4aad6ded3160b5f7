"""The phase chart's quick preset on digits: sequential vs a Dask LocalCluster (worker processes, 1 thread each),
same grid checked exactly; cluster start-up timed apart. Optionally a local Ray instance.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_engines.py [--workers 2] [--ray] [--widths 2 4 8 16 32 64]
"""
import argparse
import os
import time

import numpy as np

from explorer import load_dataset
from explorer.codes import PRESETS, sweep
from explorer.engines import engine_info


def timed(label, fn):
    start = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - start:.1f} s", flush=True)
    return out, time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ray", action="store_true", help="also a local Ray instance with --workers CPUs")
    p.add_argument("--widths", type=int, nargs="+", help="a smaller grid than the preset's widths")
    a = p.parse_args()
    grid = dict(PRESETS["quick (digits, CPU)"])
    if a.widths:
        grid["widths"] = tuple(a.widths)
    data = load_dataset("digits")
    print(f"quick preset {grid}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start "
          f"(a shared machine: other work runs beside this)", flush=True)
    seq, t_seq = timed("sequential (this process)", lambda: sweep(data, backend="sequential", **grid))
    from distributed import Client, LocalCluster

    (cluster, client), t_up = timed("Dask LocalCluster start", lambda: (
        lambda c: (c, Client(c)))(LocalCluster(n_workers=a.workers, processes=True, threads_per_worker=1,
                                               dashboard_address=None)))
    print(engine_info(client))
    import importlib

    timed("workers import explorer and torch (once per cluster)",
          lambda: client.run(importlib.import_module, "explorer.codes.sweep"))
    got, t_dask = timed(f"Dask, {a.workers} workers", lambda: sweep(data, engine=client, **grid))
    same = all(np.array_equal(seq[k], got[k]) for k in ("redundancy ratio", "k-NN"))
    print(f"identical grids: {same}; speed-up sequential / Dask {t_seq / t_dask:.2f}x "
          f"({t_seq / (t_dask + t_up):.2f}x counting the cluster start)")
    client.close()
    cluster.close()
    if a.ray:
        import ray

        _, t_rup = timed("Ray start", lambda: ray.init(num_cpus=a.workers, include_dashboard=False,
                                                        logging_level="ERROR"))
        got, t_ray = timed(f"Ray, {a.workers} CPUs", lambda: sweep(data, engine=ray, **grid))
        same = all(np.array_equal(seq[k], got[k]) for k in ("redundancy ratio", "k-NN"))
        print(f"identical grids: {same}; speed-up sequential / Ray {t_seq / t_ray:.2f}x")
        ray.shutdown()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
