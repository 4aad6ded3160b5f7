"""Loss-landscape lab vs loss-landscapes (21x21 plane) and PyHessian (top eigenvalue), side by side in one run.

python benchmarks/bench_landscape.py [--repeats 2] [--mnist /work/shared/data/mnist-subset]
Model: 2 conv + 2 fc on 1x28x28 (105,866 parameters, as in shared/reference/landscape.md sec. 4), 512 test inputs.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections import OrderedDict

import torch
from torch import nn

from explorer.landscape import HessianOperator, random_plane, slice_grid, top_eigen


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


def timed(fn, cpu: list | None = None):
    """Wall seconds (and, into cpu, process CPU seconds: less sensitive to other jobs on a shared machine)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mnist", default="/work/shared/data/mnist-subset")
    args = ap.parse_args()
    torch.set_num_threads(2)
    import loss_landscapes
    import loss_landscapes.metrics
    model, x, y, what = data(args.mnist)
    print(f"torch {torch.__version__}, loss-landscapes 3.0.6, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; {sum(p.numel() for p in model.parameters()):,} parameters; {what}")
    metric = loss_landscapes.metrics.Loss(nn.CrossEntropyLoss(), x, y)
    ll, ours, pre = "loss-landscapes random_plane 21x21", "explorer slice_grid 21x21 (eager, incl. preview)", \
        "explorer preview 7x7 (until shown)"
    wall, cpu = {ll: [], ours: [], pre: []}, {ll: [], ours: [], pre: []}
    for _ in range(args.repeats):  # interleaved, so machine load hits both alike; ratios are paired per repeat
        t, _ = timed(lambda: loss_landscapes.random_plane(model, metric, distance=1, steps=21,
                                                          normalization="filter", deepcopy_model=True), cpu[ll])
        wall[ll].append(t)
        # the preview (7x7 sub-grid, every 3rd point through the centre) is reported before refining
        marks, c0, t0 = {}, time.process_time(), time.perf_counter()

        def mark(done, _total, _surf, m=marks, t0=t0, c0=c0):
            m.setdefault(done, (time.perf_counter() - t0, time.process_time() - c0))
        t, s = timed(lambda: slice_grid(model, x, y, *random_plane(model, seed=0), span=1.0, n=21, preview=3,
                                        callback=mark), cpu[ours])
        wall[ours].append(t)
        wall[pre].append(marks[49][0])
        cpu[pre].append(marks[49][1])
    med = statistics.median
    print("\n| Method | Wall median (s) | Wall runs (s) | CPU median (s) | Paired wall ratio | Paired CPU ratio |")
    print("|---|---|---|---|---|---|")
    for k in wall:
        rw = med([a / b for a, b in zip(wall[k], wall[ll], strict=True)])
        rc = med([a / b for a, b in zip(cpu[k], cpu[ll], strict=True)])
        print(f"| {k} | {med(wall[k]):.2f} | {', '.join(f'{t:.1f}' for t in wall[k])} | {med(cpu[k]):.2f} | "
              f"{rw:.3f} | {rc:.3f} |")
    print(f"\ncentre loss {s.origin()[0]:.5f}; NaN points {int((s.loss != s.loss).sum())}")
    hessian_bench(model, x, y)


def hessian_bench(model, x, y) -> None:
    """Top Hessian eigenvalue: explorer vs PyHessian (same model, same 512-input batch, tol 1e-3)."""
    try:
        from pyhessian import hessian
    except ImportError:
        print("PyHessian not installed: skipped")
        return
    t_ours, (vals, _) = timed(lambda: top_eigen(HessianOperator.of(model, x, y), k=1, seed=0))
    theirs = copy.deepcopy(model)  # PyHessian fills .grad and calls eval() on the model it gets
    torch.manual_seed(0)
    t_py, (py_vals, _) = timed(lambda: hessian(theirs, nn.CrossEntropyLoss(), data=(x, y), cuda=False)
                               .eigenvalues(top_n=1))
    rel = abs(vals[0] - py_vals[0]) / abs(py_vals[0])
    print("\n| Top Hessian eigenvalue | Value | Time (s) |\n|---|---|---|")
    print(f"| explorer top_eigen | {vals[0]:.5f} | {t_ours:.2f} |\n| PyHessian 0.1 eigenvalues | {py_vals[0]:.5f} | "
          f"{t_py:.2f} |\n\nrelative difference {rel:.2e}; time ratio explorer/PyHessian {t_ours / t_py:.2f}")


if __name__ == "__main__":
    main()
