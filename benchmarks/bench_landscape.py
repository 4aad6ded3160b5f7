"""Loss-landscape lab vs loss-landscapes (21x21 plane) and PyHessian (top-1, top-3, trace), side by side in one run.

python benchmarks/bench_landscape.py [--repeats 2] [--eager] [--mnist /work/shared/data/mnist-subset]
python benchmarks/bench_landscape.py --load both [--runs 3] [--quick]   # top eigenvalue vs PyHessian, quiet + loaded
Model: 2 conv + 2 fc on 1x28x28 (105,866 parameters, as in shared/reference/landscape.md sec. 4), 512 test inputs.
Wall and process CPU time (time.process_time) are both reported: on a shared machine CPU time is the steadier one.
--load quiet|loaded|both (issue 27): only the top Hessian eigenvalue, ours vs PyHessian in interleaved rounds, as it
is, under benchmarks/load.py's competing load, or both; ours on the executor's thread policy (or --ours-threads),
PyHessian on torch's threads; each side's error against a tight reference and its peak memory (benchmarks/peak.py).
--quick: 16 N(0, 1) inputs on the untrained model (no training first), one round: a check that it runs, not a figure.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections import OrderedDict

import torch
from torch import nn

from explorer.device import fitted_threads, parallel_gain, torch_threads
from explorer.landscape import HessianOperator, random_plane, slice_grid, top_eigen, trace

try:
    from load import competing_load, load_average
    from peak import Peaks, process_peak_mib
except ImportError:  # run as a module
    from benchmarks.load import competing_load, load_average
    from benchmarks.peak import Peaks, process_peak_mib


def net() -> nn.Module:
    """conv(16) -> pool -> conv(32) -> pool -> fc(64) -> fc(10): 105,866 parameters."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 16, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(16, 32, 3, padding=1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(32 * 7 * 7, 64)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(64, 10))])).eval()


def data(root: str | None):
    """512 real MNIST test inputs (model trained 2 epochs on the subset) or, without it, N(0, 1) inputs."""
    model = net()
    if root and os.path.isdir(root):
        from explorer.data import torchvision_set
        from explorer.train import train
        ds = torchvision_set("mnist", root=root)
        train(model, ds, epochs=2, seed=0)
        return model, ds.inputs("test")[:512], ds.labels("test")[:512], f"MNIST subset ({root}), trained 2 epochs"
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(512, 1, 28, 28, generator=gen), torch.randint(0, 10, (512,), generator=gen)
    return model, x, y, "512 N(0, 1) inputs, random labels, untrained model"


def timed(fn):
    """(wall seconds, process CPU seconds, result)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - start_cpu, out


def load() -> str:
    """The 1-minute load average (the machine is shared with other engineers' jobs)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def slice_bench(model, x, y, repeats: int, eager: bool) -> None:
    """21x21 filter-normalised plane: loss-landscapes vs explorer's default (fast) path, preview, optional eager."""
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(nn.CrossEntropyLoss(), x, y)
    ll, ours, pre, ref = ("loss-landscapes random_plane 21x21", "explorer slice_grid 21x21 (auto: fast path)",
                          "explorer preview 7x7 (until shown)", "explorer slice_grid 21x21 (eager reference)")
    names = [ll, ours, pre] + ([ref] if eager else [])
    wall, cpu = {k: [] for k in names}, {k: [] for k in names}
    path, loads = None, []
    for _ in range(repeats):  # interleaved, so machine load hits all alike; ratios are paired per repeat
        loads.append(load())
        t, c, _ = timed(lambda: loss_landscapes.random_plane(model, metric, distance=1, steps=21,
                                                             normalization="filter", deepcopy_model=True))
        wall[ll].append(t)
        cpu[ll].append(c)
        marks, c0, t0 = {}, time.process_time(), time.perf_counter()

        def mark(done, _total, _surf, m=marks, t0=t0, c0=c0):
            m.setdefault(done, (time.perf_counter() - t0, time.process_time() - c0))
        t, c, s = timed(lambda: slice_grid(model, x, y, *random_plane(model, seed=0), span=1.0, n=21, preview=3,
                                           callback=mark))
        wall[ours].append(t)
        cpu[ours].append(c)
        wall[pre].append(marks[49][0])
        cpu[pre].append(marks[49][1])
        path = s.path
        if eager:
            t, c, e = timed(lambda: slice_grid(model, x, y, *random_plane(model, seed=0), span=1.0, n=21,
                                               preview=3, backend="eager"))
            wall[ref].append(t)
            cpu[ref].append(c)
            print(f"fast vs eager surface: max |difference| {abs(s.loss - e.loss).max():.2e}")
    med = statistics.median
    print(f"\nslice path: {path}; 1-min load average at each repeat's start: {', '.join(loads)}")
    print("\n| Method | Wall median (s) | Wall runs (s) | CPU median (s) | CPU runs (s) | Paired wall ratio | "
          "Paired CPU ratio |\n|---|---|---|---|---|---|---|")
    for k in names:
        rw = med([a / b for a, b in zip(wall[k], wall[ll], strict=True)])
        rc = med([a / b for a, b in zip(cpu[k], cpu[ll], strict=True)])
        print(f"| {k} | {med(wall[k]):.2f} | {', '.join(f'{t:.1f}' for t in wall[k])} | {med(cpu[k]):.2f} | "
              f"{', '.join(f'{t:.1f}' for t in cpu[k])} | {rw:.3f} | {rc:.3f} |")
    print(f"\ncentre loss {s.origin()[0]:.5f}; NaN points {int((s.loss != s.loss).sum())}")


def hessian_bench(model, x, y) -> None:
    """Top-1, top-3 and trace: explorer vs PyHessian (same model, same 512-input batch), with HVP counts."""
    try:
        from pyhessian import hessian
    except ImportError:
        print("PyHessian not installed: skipped")
        return
    module = sys.modules["pyhessian.hessian"]
    real, count = module.hessian_vector_product, [0]

    def counted(*a, **k):
        count[0] += 1
        return real(*a, **k)
    module.hessian_vector_product = counted

    def pyh(what):
        count[0] = 0
        theirs = copy.deepcopy(model)  # PyHessian fills .grad and calls eval() on the model it gets
        torch.manual_seed(0)
        h = hessian(theirs, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        return what(h), count[0]

    def ours(what):
        op = HessianOperator.of(model, x, y)
        out = what(op)
        return out, op.hvps
    print(f"\nHessian (1-min load average {load()})")
    _, _, ((truth, _), n_truth) = timed(lambda: ours(lambda op: top_eigen(op, k=3, tol=1e-6, max_iter=150)))
    print(f"reference top-3 (Lanczos, residual <= 1e-6 |theta|, {n_truth} HVPs): {[f'{v:.6f}' for v in truth]}")
    rows = []
    t, c, ((v1, _), n1) = timed(lambda: ours(lambda op: top_eigen(op, k=1, tol=1e-3)))
    rows.append(("explorer top_eigen k=1 (Lanczos, tol 1e-3)", v1, n1, t, c))
    t, c, ((p1, _), m1) = timed(lambda: pyh(lambda h: h.eigenvalues(top_n=1)))
    rows.append(("PyHessian eigenvalues(top_n=1) (power, tol 1e-3)", p1, m1, t, c))
    t, c, ((v3, _), n3) = timed(lambda: ours(lambda op: top_eigen(op, k=3, tol=1e-3)))
    rows.append(("explorer top_eigen k=3", v3, n3, t, c))
    t, c, ((p3, _), m3) = timed(lambda: pyh(lambda h: h.eigenvalues(top_n=3)))
    rows.append(("PyHessian eigenvalues(top_n=3)", p3, m3, t, c))
    print("\n| Method | Eigenvalues | Max rel. error vs reference | HVPs | Wall (s) | CPU (s) |")
    print("|---|---|---|---|---|---|")
    for name, vals, n, t, c in rows:
        err = max(abs(v - r) / abs(r) for v, r in zip(vals, truth, strict=False))
        print(f"| {name} | {', '.join(f'{v:.5f}' for v in vals)} | {err:.1e} | {n} | {t:.2f} | {c:.2f} |")
    r = rows
    print(f"\ntop-1: relative difference explorer vs PyHessian {abs(v1[0] - p1[0]) / abs(p1[0]):.2e}; time ratio "
          f"explorer/PyHessian wall {r[0][3] / r[1][3]:.2f}, CPU {r[0][4] / r[1][4]:.2f}")
    print(f"top-3: time ratio wall {r[2][3] / r[3][3]:.2f}, CPU {r[2][4] / r[3][4]:.2f}")
    t, c, (tr, nt) = timed(lambda: ours(lambda op: trace(op)))
    t2, c2, (ptr, mt) = timed(lambda: pyh(lambda h: h.trace()))
    import numpy as np
    pm, pse = float(np.mean(ptr)), float(np.std(ptr, ddof=1) / np.sqrt(len(ptr))) if len(ptr) > 1 else float("nan")
    print("\n| Trace | Estimate +- 2 SE | Samples (HVPs) | Wall (s) | CPU (s) |\n|---|---|---|---|---|")
    print(f"| explorer trace (stop at 2 SE <= 2% of the mean) | {tr.estimate:.2f} +- {2 * tr.se:.2f} | {nt} | "
          f"{t:.2f} | {c:.2f} |")
    print(f"| PyHessian trace (stop when the mean changes < 1e-3) | {pm:.2f} +- {2 * pse:.2f} | {mt} | {t2:.2f} | "
          f"{c2:.2f} |")
    module.hessian_vector_product = real


def top1_under_load(model, x, y, conditions, runs: int, threads: int | None) -> None:
    """Top Hessian eigenvalue, explorer (Lanczos, tol 1e-3) vs PyHessian (power iteration, tol 1e-3), interleaved
    rounds (order turned round every other round), per condition: median wall s, the ratio, each side's relative
    error against a tight reference, HVPs and peak memory of one call."""
    import contextlib
    import warnings

    from pyhessian import hessian

    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")  # PyHessian's own call
    truth = top_eigen(HessianOperator.of(model, x, y), k=1, tol=1e-7, max_iter=300)[0][0]
    print(f"\nreference top eigenvalue (Lanczos, residual <= 1e-7 |theta|): {truth:.6f}")

    def ours(n):
        with fitted_threads(n):
            op = HessianOperator.of(model, x, y)
            return top_eigen(op, k=1, tol=1e-3)[0][0], op.hvps

    def theirs():
        m = copy.deepcopy(model)  # PyHessian fills .grad and calls eval() on the model it gets
        torch.manual_seed(0)
        h = hessian(m, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        vals, _ = h.eigenvalues(top_n=1)
        return vals[0], None

    rows = []
    for cond in conditions:
        with competing_load() if cond == "loaded" else contextlib.nullcontext():
            n = threads or torch_threads()
            print(f"{cond}: ours on {n} thread(s) (probe: 2 threads {parallel_gain(2):.2f}x one), PyHessian on "
                  f"{torch.get_num_threads()}, load {load_average():.1f}", flush=True)
            peaks = Peaks()
            fns = {"ours": peaks.wrap("ours", lambda n=n: ours(n)), "PyHessian": peaks.wrap("PyHessian", theirs)}
            for f in fns.values():
                f()  # warm-up, and the one call whose memory is measured
            wall, vals, hvps = {k: [] for k in fns}, {}, {}
            for r in range(runs):
                for k, f in (list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]):
                    t = time.perf_counter()
                    vals[k], hvps[k] = f()
                    wall[k].append(time.perf_counter() - t)
            med = {k: statistics.median(v) for k, v in wall.items()}
            err = {k: abs(vals[k] - truth) / abs(truth) for k in fns}
            rows.append((cond, n, med, err, hvps["ours"], peaks, load_average()))
    print("\n| condition | ours s | PyHessian s | ours / PyHessian | error ours | error PyHessian | HVPs ours | "
          "peak MiB ours / PyHessian | load |\n|---|---|---|---|---|---|---|---|---|")
    for cond, n, med, err, h, peaks, ld in rows:
        print(f"| {cond} ({n} thread{'s' if n > 1 else ''}) | {med['ours']:.2f} | {med['PyHessian']:.2f} | "
              f"{med['ours'] / med['PyHessian']:.2f} | {err['ours']:.1e} | {err['PyHessian']:.1e} | {h} | "
              f"{peaks.text('ours')} / {peaks.text('PyHessian')} | {ld:.1f} |")
    print(f"\nprocess peak resident set: {process_peak_mib() or 0:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--eager", action="store_true", help="also time explorer's eager reference path")
    ap.add_argument("--skip-slice", action="store_true")
    ap.add_argument("--skip-hessian", action="store_true")
    ap.add_argument("--mnist", default="/work/shared/data/mnist-subset")
    ap.add_argument("--load", choices=("quiet", "loaded", "both"), default=None,
                    help="only the top eigenvalue vs PyHessian, quiet, under the competing load, or both")
    ap.add_argument("--runs", type=int, default=3, help="with --load: interleaved rounds per condition")
    ap.add_argument("--ours-threads", type=int, default=None, help="with --load: default the executor's policy")
    ap.add_argument("--quick", action="store_true", help="16 random inputs, one round: a check that it runs")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, x, y, what = data(None if args.quick else args.mnist)
    if args.quick:
        x, y, args.runs, what = x[:16], y[:16], 1, "16 N(0, 1) inputs, random labels, untrained model (--quick)"
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared with other jobs), {torch.get_num_threads()} threads; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; {what}")
    if args.load:
        top1_under_load(model, x, y, ("quiet", "loaded") if args.load == "both" else (args.load,), args.runs,
                        args.ours_threads)
        return
    if not args.skip_slice:
        slice_bench(model, x, y, args.repeats, args.eager)
    if not args.skip_hessian:
        hessian_bench(model, x, y)


if __name__ == "__main__":
    main()
