"""One run on a GPU machine (issue 26): the CUDA-path tests, then a speed table, written to benchmarks/RESULTS_gpu.md.

    python benchmarks/bench_gpu.py                              # a CUDA machine: tests + table on cuda
    python benchmarks/bench_gpu.py --device cpu --quick --no-tests --out /tmp/gpu.md   # the smoke test (seconds)

Rows (median of --runs after one warm-up, interleaved by bench_saliency.compare): Grad-CAM and Score-CAM
(explorer.testing.calibrated("resnet18", size=224), 8 x 3 x 224 x 224, layer4), a 21 x 21 loss-landscape slice and the
Hessian's top-3 eigenvalues (bench_landscape.net, 512 inputs), codes of 10,000 1 x 28 x 28 inputs (SmallCNN, batches
of 256), the phase sweep's quick preset (its tiny MLPs train on the CPU wherever the model runs: one thread per
training). --quick: a small CNN and small sizes, only a check that every row runs.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# the CUDA paths: device choice, saliency on a cuda model, flat cuda memory over 100 calls (skipped without CUDA)
CUDA_TESTS = ("tests/test_session.py::test_pick_device",
              "tests/saliency/test_saliency_contract.py::test_any_device_follows_model",
              "tests/saliency/test_saliency_memory.py")


def run_tests() -> str:
    """pytest on CUDA_TESTS in a child process; its summary line."""
    out = subprocess.run([sys.executable, "-m", "pytest", *CUDA_TESTS, "-q", "-p", "no:cacheprovider", "-rs"],
                         cwd=HERE.parent, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    return lines[-1] if lines else f"pytest exited {out.returncode}: {out.stderr[-300:]}"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rows(device: torch.device, quick: bool, runs: int) -> list[tuple[str, float, str]]:
    """(what, median ms, size) for each row of the table."""
    from bench_landscape import net
    from bench_saliency import compare

    from explorer import load_dataset
    from explorer.codes import PRESETS, activation_codes, sweep
    from explorer.landscape import HessianOperator, random_plane, slice_grid, top_eigen
    from explorer.models import SmallCNN
    from explorer.saliency import GradCAM, ScoreCAM
    from explorer.testing import calibrated

    g = torch.Generator().manual_seed(0)
    if quick:
        cam_model, layer, x_cam = net().to(device), "conv2", torch.randn(2, 1, 28, 28, generator=g)
    else:
        cam_model, layer = calibrated("resnet18", size=224).to(device), "layer4"
        x_cam = torch.randn(8, 3, 224, 224, generator=g)
    x_cam = x_cam.to(device)
    n_land, n_grid, n_codes = (16, 5, 256) if quick else (512, 21, 10000)
    land = net().to(device)
    x_land = torch.randn(n_land, 1, 28, 28, generator=g).to(device)
    y_land = torch.randint(0, 10, (n_land,), generator=g).to(device)
    plane = random_plane(land, seed=0)
    codes_model = SmallCNN(1).eval().to(device)
    x_codes = torch.rand(n_codes, 1, 28, 28, generator=g).to(device)
    grid = dict(widths=(2, 4), epochs=(0, 1), sizes=(100,)) if quick else dict(PRESETS["quick (digits, CPU)"])
    digits = load_dataset("digits")

    def timed(fn):
        def call():
            fn()
            sync(device)
        return call
    cam_size = f"{tuple(x_cam.shape)}, {layer}"
    fns = {
        ("Grad-CAM", cam_size): timed(lambda: GradCAM(layer)(cam_model, x_cam)),
        ("Score-CAM", cam_size): timed(lambda: ScoreCAM(layer)(cam_model, x_cam)),
        ("loss-landscape slice", f"{n_grid} x {n_grid}, {n_land} inputs"): timed(
            lambda: slice_grid(land, x_land, y_land, *plane, span=1.0, n=n_grid)),
        ("Hessian top-3 eigenvalues", f"{n_land} inputs, tol 1e-3"): timed(
            lambda: top_eigen(HessianOperator.of(land, x_land, y_land), k=3, tol=1e-3)),
        ("codes", f"{n_codes} x 1 x 28 x 28, SmallCNN"): timed(
            lambda: activation_codes(codes_model, x_codes, batch_size=256)),
        ("phase sweep (CPU trainings)", f"{len(grid['widths']) * len(grid['sizes'])} trainings"): timed(
            lambda: sweep(digits, backend="sequential", **grid)),
    }
    ms = compare(fns, runs=runs, warmup=1)
    return [(what, t, size) for (what, size), t in ms.items()]


def header(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or
                                                                               platform.machine())
    return (f"device {device} ({name}), torch {torch.__version__}, torch built for CUDA "
            f"{torch.version.cuda or 'none'}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
            f"load {os.getloadavg()[0]:.1f}")


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="small models and sizes: a check that every row runs")
    p.add_argument("--runs", type=int, default=None, help="timed runs per row (default 5; 1 with --quick)")
    p.add_argument("--no-tests", action="store_true", help="skip the CUDA-path tests")
    p.add_argument("--out", default=str(HERE / "RESULTS_gpu.md"))
    a = p.parse_args(argv)
    from explorer.device import pick_device

    device = pick_device(a.device)
    runs = a.runs or (1 if a.quick else 5)
    start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tests = "not run (--no-tests)" if a.no_tests else run_tests()
    table = rows(device, a.quick, runs)
    lines = [f"# GPU figures ({'quick check' if a.quick else 'full'}), {start}", "",
             f"`python benchmarks/bench_gpu.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
             header(device), "", f"CUDA-path tests ({', '.join(CUDA_TESTS)}): {tests}", "",
             f"| what | size | median ms ({runs} runs) |", "|---|---|---|"]
    lines += [f"| {what} | {size} | {t:.1f} |" for what, t, size in table]
    if device.type == "cuda":
        lines += ["", f"peak CUDA memory allocated: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"]
    out = Path(a.out)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return out


if __name__ == "__main__":
    main()
