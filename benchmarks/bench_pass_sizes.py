"""Forward passes by batch size on the CPU: python benchmarks/bench_pass_sizes.py [--threads 2].

resnet18 (seeded random weights) in eval mode, 64 images at 224 run in batches of 4-64: eager (pytorch-grad-cam's
Score-CAM passes), eager on a channels-last batch, and BatchNorm folded channels-last (ours); median of 3 after a
warm-up, ms for all 64. Where the last-level cache holds a pass's widest activation, smaller batches are faster
(batching.py)."""
import argparse

import torch
from bench_saliency import median_ms

from explorer.device import cache_bytes
from explorer.saliency.methods.batching import widest_activation
from explorer.saliency.methods.fold import folded


def main():
    import torchvision

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    fast = folded(net)
    x = torch.randn(64, 3, 224, 224)
    xc = x.contiguous(memory_format=torch.channels_last)
    print(f"cache {cache_bytes() / 2**20:.0f} MiB, widest activation {widest_activation(net, x[:1]) / 1e6:.1f} MB")
    print("| batch | eager | eager channels-last | folded channels-last |\n|---|---|---|---|")
    with torch.no_grad():
        for b in (4, 8, 16, 32, 64):
            row = [median_ms(lambda m=m, z=z, b=b: [m(z[i:i + b]) for i in range(0, 64, b)], runs=3)
                   for m, z in ((net, x), (net, xc), (fast, xc))]
            print(f"| {b} | " + " | ".join(f"{v:.0f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
