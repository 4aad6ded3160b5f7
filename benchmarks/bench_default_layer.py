"""Cost of the default CAM layer (one probing forward + targeted grad at batch 1) next to one Grad-CAM call, on
torchvision models at 224 x 224 (random weights, CPU): python benchmarks/bench_default_layer.py [names...]."""
from __future__ import annotations

import sys
import time

import torch

from explorer.models import torchvision_model
from explorer.saliency import GradCAM
from explorer.saliency.methods.layers import default_cam_layer


def cpu_seconds(fn, runs: int = 3) -> float:
    """Median process CPU time of fn() in seconds (CPU, not wall: robust to other processes' load)."""
    times = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return sorted(times)[len(times) // 2]


def main(names) -> None:
    x = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); CPU seconds, median of 3")
    print("| model | default layer | probe | Grad-CAM batch 8 at that layer | probe / Grad-CAM |")
    print("|---|---|---|---|---|")
    for name in names:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = torchvision_model(name).eval()
        layer = default_cam_layer(model, x)
        probe = cpu_seconds(lambda m=model: default_cam_layer(m, x))
        cam = cpu_seconds(lambda m=model, n=layer: GradCAM(n)(m, x, targets=list(range(8))))
        print(f"| {name} | {layer} | {probe:.2f} | {cam:.2f} | {probe / cam:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet18", "mobilenet_v3_small", "swin_t", "vit_b_16"])
