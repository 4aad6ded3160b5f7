"""Evaluation with targets (issue 24): ROAD with one segmentation target per image against pytorch-grad-cam's
ROADCombined (the same imputations), and one-target-per-image scoring of a perturbed batch, each image's output row
alone (ours now) against every target scoring the whole batch (the definition before).

    PYTHONPATH=. python benchmarks/bench_eval_targets.py --runs 3
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn


def median_seconds(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


class Out(nn.Module):
    """torchvision segmentation's dict -> its 'out' tensor (the peer zips over a tensor's rows)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)["out"]


def main() -> None:
    import torchvision as tv
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget as Theirs

    import explorer.saliency as S
    from explorer.saliency.evaluation import road
    from explorer.saliency.methods.scoring import PerImage

    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--images", type=int, default=4)
    a = p.parse_args()
    torch.manual_seed(0)
    net = Out(tv.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)).eval()
    x = torch.randn(a.images, 3, a.size, a.size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        masks = (net(x).argmax(1) == net(x).argmax(1).flatten().mode().values).float()
    ours = [S.SemanticSegmentationTarget(int(net(x[:1]).argmax(1).flatten().mode().values), m) for m in masks]
    maps = S.GradCAM("net.backbone.16")(net, x, ours)
    pct = [20, 40, 60, 80]
    peer = ROADCombined(percentiles=pct)
    theirs = [Theirs(t.category, t.mask.numpy()) for t in ours]
    t_ours = median_seconds(lambda: road(net, x, maps, ours, removed=[100 - q for q in pct],
                                         variant="pytorch-grad-cam"), a.runs)
    t_peer = median_seconds(lambda: peer(x, maps.numpy(), theirs, net), a.runs)
    print(f"ROAD combined, {a.images} images {a.size}x{a.size}, 4 shares: ours {t_ours:.3f} s, pytorch-grad-cam "
          f"{t_peer:.3f} s, ratio peer/ours {t_peer / t_ours:.2f}x")
    with torch.no_grad():
        out = net(x.repeat(128, 1, 1, 1))  # a perturbed batch as faithfulness scores it: 128 copies of the images
    each = PerImage(ours).repeat(128)

    def whole():  # the definition before: every target scores the whole batch, then takes its row
        return torch.stack([t(out)[i] for i, t in enumerate(each.targets)])
    assert torch.allclose(whole(), each(out))
    t_row, t_whole = median_seconds(lambda: each(out), a.runs), median_seconds(whole, a.runs)
    print(f"one target per image, {len(out)} outputs: each row alone {t_row * 1e3:.1f} ms, each target on the whole "
          f"batch {t_whole * 1e3:.1f} ms, ratio {t_whole / t_row:.0f}x")


if __name__ == "__main__":
    main()
