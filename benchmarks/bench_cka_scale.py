"""Minibatch CKA at scale (issue 25): every layer pair of two resnet18s on up to 10,000 MNIST images, ours
(geometry.minibatch_cka) against pytorch-cka 1.1.3 (cka.compute_cka, the same estimator: HSIC1 summed over batches),
each in its own process (peak RSS per run), for several image counts: the memory must stay flat as n grows.

    OMP_NUM_THREADS=2 python benchmarks/bench_cka_scale.py [--n 1000 10000] [--batch 250] [--size 32]
        [--root /work/shared/data/mnist-10k] [--device cpu] [--no-calibrate]

Two torchvision resnet18s (weights=None, seeds 0 and 1, eval), all 14 stages each (features.stages): 196 pairs;
BatchNorm calibrated (explorer.testing.calibrate_batchnorm: momentum None, one train-mode pass) on the
first --batch images, unless --no-calibrate (the figures of 2026-12-05 before 03:00 UTC: BatchNorm at its init).
The full-batch estimate: the features of every layer of n inputs (float32, kept at once by layer_grams) plus two
stacks of (layers, n, n) float64 Grams, what geometry.cka_layers without minibatch would hold.
Images: the MNIST digits of --root (train then test), bilinear to --size, grey repeated to RGB, standardised.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch


def _images(root: str, n: int, size: int) -> torch.Tensor:
    from explorer import load_dataset

    d = load_dataset("mnist", root=root)
    x = torch.cat([d.images("train"), d.images("test")])[:n].float()
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return ((x - x.mean()) / x.std()).expand(-1, 3, -1, -1).contiguous()


def _resnet18(seed: int, device, calibrate: torch.Tensor | None = None):
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.resnet18(weights=None, num_classes=10)
    if calibrate is not None:  # BatchNorm statistics of real inputs, as the other benchmarks' calibrated models
        from explorer.testing import calibrate_batchnorm

        calibrate_batchnorm(net, calibrate)
    return net.eval().to(device)


def full_batch_mib(model, x: torch.Tensor, layers: list[str], n: int) -> float:
    """What full-batch CKA of two such models on n inputs holds at once: one model's features of every layer for n
    inputs (float32) and both models' (layers, n, n) float64 Grams, in MiB."""
    from explorer.capture import capture

    with torch.no_grad(), capture(model, layers) as cap:
        model(x[:2])
        dims = sum(cap.output(name)[0].numel() for name in layers)
    return (n * dims * 4 + 2 * len(layers) * n * n * 8) / 2**20


def one(args) -> dict:
    """One library on one image count, in this process."""
    from explorer.geometry import minibatch_cka, stages

    device = torch.device(args.device)
    x = _images(args.root, args.n[0], args.size)
    calib = None if args.no_calibrate else x[:args.batch]
    a, b = _resnet18(0, device, calib), _resnet18(1, device, calib)
    layers = stages(a, x[:2].to(device))
    estimate = full_batch_mib(a, x.to(device), layers, len(x))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    if args.lib == "ours":
        vals = torch.as_tensor(minibatch_cka(a, x, layers, b, layers, batch=args.batch).values)
    else:
        from cka import compute_cka
        from torch.utils.data import DataLoader, TensorDataset

        vals = compute_cka(a, b, DataLoader(TensorDataset(x), batch_size=args.batch), layers=layers,
                           device=device, progress=False)[0].double().cpu()
    sec = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"lib": args.lib, "n": len(x), "pairs": len(layers) ** 2, "seconds": sec, "peak RSS MiB": peak,
           "peak RSS before the call MiB": base,
           "full-batch estimate MiB": estimate, "values": vals.tolist()}
    if device.type == "cuda":
        out["peak CUDA MiB"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--root", default="/work/shared/data/mnist-10k")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-calibrate", action="store_true", help="BatchNorm at its init (running mean 0, var 1)")
    p.add_argument("--lib", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.lib:
        print(json.dumps(one(args)))
        return
    print(f"load average at start {os.getloadavg()}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    for n in args.n:
        runs = {}
        order = ("ours", "pytorch-cka") if n == args.n[0] else ("pytorch-cka", "ours")  # who pays a cold cache
        for lib in order:
            cmd = [sys.executable, __file__, "--lib", lib, "--n", str(n), "--batch", str(args.batch), "--size",
                   str(args.size), "--root", args.root, "--device", args.device]
            cmd += ["--no-calibrate"] if args.no_calibrate else []
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[lib] = json.loads(res.stdout.strip().splitlines()[-1])
            r = runs[lib]
            print(f"n={n:>6} {lib:>12}: {r['seconds']:7.1f} s, peak RSS {r['peak RSS MiB']:7.0f} MiB "
                  f"({r['peak RSS before the call MiB']:.0f} before the call)"
                  + (f", peak CUDA {r['peak CUDA MiB']:.0f} MiB" if "peak CUDA MiB" in r else "")
                  + f"; full-batch estimate {r['full-batch estimate MiB']:.0f} MiB, load {os.getloadavg()[0]:.1f}",
                  flush=True)
        ours, theirs = (torch.tensor(runs[k]["values"]) for k in ("ours", "pytorch-cka"))
        print(f"n={n:>6} time ratio ours / pytorch-cka {runs['ours']['seconds'] / runs['pytorch-cka']['seconds']:.2f}"
              f", max |ours clamped - theirs| {float((ours.clamp(0, 1) - theirs).abs().max()):.2e}"
              f" over {runs['ours']['pairs']} pairs", flush=True)


if __name__ == "__main__":
    main()
