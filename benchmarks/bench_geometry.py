"""Speed and peak memory of the geometry lab's slow results, each in its own process (peak RSS per task).

    OMP_NUM_THREADS=2 python benchmarks/bench_geometry.py [--tasks cka regions collapse linear] [--n 1000]
        [--size 64] [--resolution 200] [--device cpu]

cka: linear CKA of all layer pairs (features.stages: 14) of torchvision resnet18 (random seeded weights, eval) on
--n digits images upsampled to --size x --size RGB; the model part (Gram matrices) and the pure part timed apart,
ours as minibatch CKA (debiased, batches of 100) and pytorch-cka's compute_cka (the same estimator) side by side.
regions: grid_regions on a --resolution^2 plane through three test images for the default CNN
(Session.open("digits", "cnn", epochs=15)). collapse: NC1-NC4 of fc's input over 15 checkpoints (train split).
linear: local_map of resnet18 at one --size input, all 10 classes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _images(n: int, size: int) -> torch.Tensor:
    """n digits images (train then test), bilinear to size x size, grey repeated to RGB, standardised."""
    from explorer import load_dataset

    d = load_dataset("digits")
    x = torch.cat([d.images("train"), d.images("test")])[:n]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return ((x - x.mean()) / x.std()).expand(-1, 3, -1, -1).contiguous()


def _resnet18(device):
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval().to(device)


def task_cka(args) -> dict:
    from explorer.geometry import cka_matrix, layer_grams, stages

    device = torch.device(args.device)
    net, x = _resnet18(device), _images(args.n, args.size)
    layers = stages(net, x.to(device))
    t = time.perf_counter()
    grams = layer_grams(net, x, layers, batch_size=100)
    t_model = time.perf_counter() - t
    t = time.perf_counter()
    m = cka_matrix(grams)
    t_pure = time.perf_counter() - t
    out = {"layers": len(layers), "images": len(x), "model s": t_model, "pure s": t_pure,
           "ours s": t_model + t_pure, "min offdiag": float(m.values.min())}
    del grams
    t = time.perf_counter()
    mb = cka_matrix(layer_grams(net, x, layers, batch_size=100, minibatch=100), debiased=True)
    out["ours minibatch s"] = time.perf_counter() - t
    try:
        from cka import compute_cka
        from torch.utils.data import DataLoader, TensorDataset

        t = time.perf_counter()
        theirs = compute_cka(net, net, DataLoader(TensorDataset(x), batch_size=100), layers=layers,
                             device=device, progress=False)[0]
        out["pytorch-cka s"] = time.perf_counter() - t
        out["pytorch-cka vs ours minibatch, max |diff|"] = float(
            (theirs.double().cpu() - torch.as_tensor(mb.values).clamp(0, 1)).abs().max())
        out["minibatch HSIC1 vs full-batch biased, max |diff|"] = float(abs(mb.values - m.values).max())
    except ImportError:
        out["pytorch-cka s"] = None
    return out


def task_regions(args) -> dict:
    from explorer import Session
    from explorer.geometry import grid_samples, partition, plane_through

    s = Session.open("digits", "cnn", device=args.device, epochs=15, seed=0)
    x = s.data.inputs("test")[:3]
    plane = plane_through(*x)
    t = time.perf_counter()
    samples = grid_samples(s.model, plane, args.resolution)
    t_model = time.perf_counter() - t
    t = time.perf_counter()
    g = partition(samples)
    t_pure = time.perf_counter() - t
    relu1 = partition(grid_samples(s.model, plane, args.resolution, layers="relu1"))
    u0, u1, v0, v1 = plane.bounds()
    half = 0.025 * (u1 - u0)  # a window 1/20 of the plane's side around the first image
    zoom = partition(grid_samples(s.model, plane, args.resolution, (-half, half, -half, half)))
    return {"zoomed window side": 2 * half, "regions (all layers, zoomed)": zoom.count,
            "cells": int(g.ids.size), "bits": samples.n_bits, "model s": t_model, "pure s": t_pure,
            "ours s": t_model + t_pure, "regions (all layers)": g.count, "regions (relu1)": relu1.count,
            "density r=1 (all)": g.density(1.0).tolist()}


def task_collapse(args) -> dict:
    from explorer import Session
    from explorer.geometry import collapse_over_training

    s = Session.open("digits", "cnn", device=args.device, epochs=15, seed=0)
    ckpts = s.history.checkpoints[1:]  # epochs 1..15
    t = time.perf_counter()
    rows = collapse_over_training(s.model, ckpts, s.data.inputs("train"), s.data.labels("train"))
    dt = time.perf_counter() - t
    return {"checkpoints": len(ckpts), "ours s": dt, "per checkpoint ms": 1000 * dt / len(ckpts),
            "NC1 first/last": [rows[0]["fc:input"]["NC1"], rows[-1]["fc:input"]["NC1"]]}


def task_linear(args) -> dict:
    from explorer.geometry import local_map

    device = torch.device(args.device)
    net = _resnet18(device)
    x = _images(1, args.size).to(device)
    local_map(net, x)  # warm-up
    t = time.perf_counter()
    m = local_map(net, x)
    return {"ours s": time.perf_counter() - t, "max |W x + b - f(x)|": float(abs(m.apply(x.cpu().numpy()) -
                                                                                m.logits).max())}


TASKS = {"cka": task_cka, "regions": task_regions, "collapse": task_collapse, "linear": task_linear}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--resolution", type=int, default=200)
    p.add_argument("--device", default="cpu")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:  # the child: one task, one JSON line
        out = TASKS[args.one](args)
        out["peak RSS MiB"] = _peak_mib()
        print(json.dumps(out))
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {args.device}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.1f}")
    for name in args.tasks:
        cmd = [sys.executable, __file__, "--one", name, "--n", str(args.n), "--size", str(args.size),
               "--resolution", str(args.resolution), "--device", args.device]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode:
            print(f"{name}: FAILED\n{res.stderr[-2000:]}")
            continue
        print(f"{name}: {res.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
