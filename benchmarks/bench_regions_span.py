"""The regions view's automatic span (geometry.widest_regions) against the plain search it replaced, in one process.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_regions_span.py [--size 32] [--cases relu:100 ...]

torchvision resnet18 (weights=None, seeded, 2 classes), BatchNorm calibrated by three train-mode passes over 64
random images, then eval; the plane through three of them. A case is layer:resolution (the panel's default layer is
the first ReLU, `relu`; its default grid 100). The plain search runs every span's search grid through the whole
network with logits, widest first, then the chosen span at the resolution; widest_regions takes codes only (each
forward stops after the layer), gives a span up once its grid has more codes than it can show, and runs the whole
network for the result's grid alone. Both must give the same grid, cell for cell.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def plain(model, plane, resolution, layers, search=50):
    """The search before: full grids (codes and logits) at each span until one shows regions."""
    from explorer.geometry import grid_regions, shows_regions
    from explorer.geometry.span import CELLS, ZOOMS

    search = min(search, resolution)
    for zoom in ZOOMS:
        r = grid_regions(model, plane, search, plane.bounds(zoom=zoom), layers)
        if shows_regions(r, CELLS * (search / resolution) ** 2):
            break
    return r if search == resolution else grid_regions(model, plane, resolution, plane.bounds(zoom=zoom), layers)


def main():
    import torchvision

    from explorer.geometry import plane_through, widest_regions

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--cases", nargs="+", default=["relu:100", "layer4.1.relu:50"])
    args = ap.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=2)
    x = torch.rand(64, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    model.eval()
    plane = plane_through(x[0], x[1], x[2])
    print(f"resnet18 at {args.size} x {args.size}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print("| layer | grid | plain search | widest_regions | ratio | regions |")
    print("|---|---|---|---|---|---|")
    for case in args.cases:
        layer, res = case.rsplit(":", 1)
        t = time.perf_counter()
        a = plain(model, plane, int(res), layer)
        t_plain = time.perf_counter() - t
        t = time.perf_counter()
        b = widest_regions(model, plane, int(res), layer)
        t_new = time.perf_counter() - t
        same = all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("u", "v", "ids", "predicted"))
        assert same, f"{case}: widest_regions differs from the plain search"
        print(f"| {layer} | {res} | {t_plain:.1f} s | {t_new:.1f} s | {t_plain / t_new:.1f}x | {b.count} |",
              flush=True)


if __name__ == "__main__":
    main()
