"""A user's model at full size: torchvision resnet18 at 224 x 224 on the CPU (random seeded weights, BatchNorm
calibrated as in tests/zoo), generated images; time and peak memory of each lab's heavy call.

nice -n 10 python benchmarks/bench_user_model.py [--quick] [--n 21] [--codes 500] [--slice 128] [--hessian 8]
  --n: the measured slice's resolution (default 5: a 21 x 21 on this machine takes longer than 20 min; both the
  5 x 5 and the 21 x 21 are estimated, the estimate is checked against the 5 x 5); --quick: a smoke run on small
  sizes. Peak memory: tracemalloc (numpy's allocations, Python's) and the resident set size sampled every 20 ms
  (torch's allocations are not seen by tracemalloc), both as the rise over the stage's start.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import platform
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import torch

from explorer.codes import activation_codes, knn_accuracy, redundancy, selection_summary
from explorer.landscape import HessianOperator, estimate, random_plane, slice_grid, top_eigen
from explorer.models import torchvision_model
from explorer.saliency import GradCAM
from explorer.saliency.methods.layers import default_cam_layer

MiB = 2 ** 20
HVPS_TOP = 25  # Lanczos products for the top eigenvalue of resnet18 at 224 (RESULTS_user_model.md; 14 at 64 x 64)


def zoo_helpers():
    """tests/zoo/conftest.py's smooth_images and calibrated (the tests' BatchNorm calibration, reused)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "zoo" / "conftest.py"
    spec = importlib.util.spec_from_file_location("zoo_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.smooth_images, mod.calibrated


class Peak:
    """Wall and CPU seconds, tracemalloc peak and sampled RSS peak (rises over the start) of a `with` block."""

    def __enter__(self):
        self.proc, self.stop = psutil.Process(), threading.Event()
        self.rss0 = self.rss_peak = self.proc.memory_info().rss

        def sample():
            while not self.stop.wait(0.02):
                self.rss_peak = max(self.rss_peak, self.proc.memory_info().rss)
        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        tracemalloc.start()
        self.t, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds, self.cpu_seconds = time.perf_counter() - self.t, time.process_time() - self.cpu
        self.traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.stop.set()
        self.thread.join()
        self.rss_peak = max(self.rss_peak, self.proc.memory_info().rss)
        self.rss = self.rss_peak - self.rss0


ROWS: list[tuple] = []


def row(name: str, p: Peak | None, note: str = "") -> None:
    """One table row, printed as it comes (a long run shows its progress)."""
    cells = (name, "" if p is None else f"{p.seconds:.1f}", "" if p is None else f"{p.cpu_seconds:.1f}",
             "" if p is None else f"{p.traced / MiB:.1f}", "" if p is None else f"{p.rss / MiB:.0f}", note)
    ROWS.append(cells)
    print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 64 x 64 images, small sizes")
    ap.add_argument("--n", type=int, default=5, help="resolution of the measured slice (21: the full one)")
    ap.add_argument("--codes", type=int, default=500, help="images encoded")
    ap.add_argument("--slice", type=int, default=128, help="images of the slice's evaluation batch")
    ap.add_argument("--hessian", type=int, default=8, help="images of the Hessian batch (the lab's default: 256)")
    ap.add_argument("--hessian-budget", type=float, default=900, help="seconds the top eigenvalue may take")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--only", default="saliency,codes,landscape,hessian",
                    help="comma-separated stages to run (default all)")
    args = ap.parse_args()
    size = 64 if args.quick else 224
    if args.quick:
        args.codes, args.slice, args.hessian, args.n = min(args.codes, 24), min(args.slice, 8), min(args.hessian, 4), 3

    smooth_images, calibrated = zoo_helpers()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = calibrated(torchvision_model(args.model, n_classes=10), smooth_images(2, seed=100, size=size))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.model} ({n_params:,} parameters) at {size} x {size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{platform.processor() or platform.machine()}; load {os.getloadavg()}")
    print("| stage | wall s | CPU s | tracemalloc peak MiB | RSS rise MiB | note |\n|---|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    only = set(args.only.split(","))
    # labels drawn in the same order whichever stages run, so a partial run sees the same data
    yc = torch.randint(0, 10, (args.codes,), generator=gen).numpy()
    ys = torch.randint(0, 10, (args.slice,), generator=gen)
    yh = torch.randint(0, 10, (args.hessian,), generator=gen)
    if "saliency" in only:
        saliency(model, size)
    if "codes" in only:
        codes_stages(model, size, args, yc)
    if "landscape" in only:
        landscape(model, size, args, ys)
    if "hessian" in only:
        hessian(model, size, args, yh)


def saliency(model, size) -> None:
    """Grad-CAM at the default layer, batch 8."""
    smooth_images, _ = zoo_helpers()

    # Saliency: Grad-CAM at the default layer, batch 8
    x8 = smooth_images(8, seed=1, size=size)
    with Peak() as p:
        layer = default_cam_layer(model, x8[:1])
    row(f"default CAM layer ({layer})", p, "one probing forward, batch 1")
    with Peak() as p:
        cams = GradCAM(layer)(model, x8, targets="predicted")
    row("Grad-CAM, batch 8", p, f"maps {tuple(cams.shape)}")
    del cams


def codes_stages(model, size, args, yc) -> None:
    """Codes of every ReLU-like layer, then redundancy, k-NN and the lasso statistics."""
    smooth_images, _ = zoo_helpers()

    # Codes: every ReLU-like layer (the lab's default), then redundancy, k-NN and the lasso statistics
    xc = smooth_images(args.codes, seed=2, size=size)
    with Peak() as p:
        codes = activation_codes(model, xc)
    row(f"codes of {args.codes} images (all ReLU layers)", p,
        f"{codes.n_bits:,} bits over {len(codes.parts)} calls; packed {codes.packed.nbytes / MiB:.0f} MiB")
    del xc
    with Peak() as p:
        rr = redundancy(codes)["redundancy ratio"]
    row("redundancy", p, f"ratio {rr:.3f}")
    half = args.codes // 2
    train, test = (dataclasses.replace(codes, packed=codes.packed[s]) for s in (slice(0, half), slice(half, None)))
    with Peak() as p:
        acc = knn_accuracy(train, yc[:half], test, yc[half:], k=9)
    row(f"9-NN accuracy ({half} train / {args.codes - half} test)", p, f"accuracy {acc:.3f} (random labels)")
    idx = np.arange(args.codes)
    with Peak() as p:
        summary = selection_summary(codes, idx, yc, 10)
    before = len(idx) * min(200, len(idx)) * codes.n_bits + len(idx) * codes.n_bits  # bool (n, 200, bits) + bits
    row(f"lasso statistics of {args.codes} (selection_summary)", p,
        f"before (boolean formula, not run): {before / MiB:,.0f} MiB; mean Hamming "
        f"{summary['mean Hamming distance']:,.0f}")
    del codes, train, test


def landscape(model, size, args, ys) -> None:
    """A filter-normalised random plane on a batch: estimate, then the slice."""
    smooth_images, _ = zoo_helpers()

    # Landscape: a filter-normalised random plane on a batch; estimate, then the slice
    xs = smooth_images(args.slice, seed=3, size=size)
    d1, d2 = random_plane(model, "filter", "zero", seed=0)
    est = {}
    for n in sorted({args.n, 21, 5} if not args.quick else {args.n}):
        with Peak() as p:
            est[n] = estimate(model, xs, ys, n=n)
        row(f"estimate {n} x {n} on {args.slice} images", p,
            f"{est[n]['seconds_per_point']:.2f} s/point -> {est[n]['seconds']:.0f} s ({est[n]['seconds'] / 60:.1f} "
            f"min), {est[n]['bytes_per_point'] / MiB:.0f} MiB/point, backend {est[n]['backend']}")
    with Peak() as p:
        surf = slice_grid(model, xs, ys, d1, d2, span=1.0, n=args.n)
    row(f"slice {args.n} x {args.n} on {args.slice} images (measured)", p,
        f"path {surf.path.split(':')[0]}; estimated {est[args.n]['seconds']:.0f} s, measured/estimated "
        f"{p.seconds / est[args.n]['seconds']:.2f}; loss at centre {surf.loss[args.n // 2, args.n // 2]:.3f}")
    del xs, surf, d1, d2


def hessian(model, size, args, yh) -> None:
    """Top eigenvalue on a batch (Lanczos for a model this size), run only if it fits the budget."""
    smooth_images, _ = zoo_helpers()

    # Hessian: top eigenvalue on a batch (Lanczos for a model this size); run only if it fits the budget
    xh = smooth_images(args.hessian, seed=4, size=size)
    op = HessianOperator.of(model, xh, yh)
    v = op.random(torch.Generator().manual_seed(0))
    with Peak() as p:
        op.matvec(v / v.norm())
    row(f"Hessian on {args.hessian} images: graph and first HVP", p, "create_graph backward, retained")
    with Peak() as p:
        op.matvec(v / v.norm())
    per_hvp = p.seconds
    row("one more HVP", p, f"top eigenvalue needs about {HVPS_TOP} HVPs -> {HVPS_TOP * per_hvp / 60:.1f} min")
    if HVPS_TOP * per_hvp <= args.hessian_budget:
        with Peak() as p:
            top, _ = top_eigen(op, k=1)
        row(f"Hessian top eigenvalue on {args.hessian} images", p,
            f"lambda_1 = {top[0]:.4g}, {op.hvps - 2} HVPs, Lanczos basis {basis_rows(op.hvps - 2)} rows = "
            f"{basis_rows(op.hvps - 2) * op.dim * 4 / MiB:,.0f} MiB (grown by doubling; "
            f"{(min(100, op.dim) + 1) * op.dim * 4 / MiB:,.0f} MiB preallocated before)")
    else:
        row(f"Hessian top eigenvalue on {args.hessian} images", None,
            f"not run: estimated {HVPS_TOP * per_hvp / 60:.0f} min > --hessian-budget {args.hessian_budget:.0f} s")
    op.release()

def basis_rows(products: int, max_iter: int = 100) -> int:
    """Rows of lanczos's Krylov basis after `products` steps: 8, doubled when full, at most max_iter + 1."""
    rows = 8
    while rows < products + 1 and rows < max_iter + 1:
        rows = min(2 * rows, max_iter + 1)
    return rows


if __name__ == "__main__":
    main()
