"""CAM family speed vs pytorch-grad-cam, side by side: python benchmarks/bench_saliency_methods.py [--runs N]
[--heavy-runs N] [--out FILE]. resnet18 (seeded random weights, BatchNorm calibrated), 8 x 3 x 224 x 224, layer4."""
from __future__ import annotations

import argparse
import platform
import time

import torch
from bench_saliency import compare, peers

import explorer.saliency as S
from explorer.testing import calibrated


def pairs():
    """(ours, peer class, peer kwargs, heavy) for every CAM the peer has."""
    import pytorch_grad_cam as pgc

    return {"Grad-CAM": (S.GradCAM("layer4"), pgc.GradCAM, {}, False),
            "Grad-CAM++": (S.GradCAMpp("layer4"), pgc.GradCAMPlusPlus, {}, False),
            "HiResCAM": (S.HiResCAM("layer4"), pgc.HiResCAM, {}, False),
            "Grad-CAM element-wise": (S.GradCAMElementWise("layer4"), pgc.GradCAMElementWise, {}, False),
            "XGrad-CAM": (S.XGradCAM("layer4"), pgc.XGradCAM, {}, False),
            "Layer-CAM": (S.LayerCAM("layer4"), pgc.LayerCAM, {}, False),
            "EigenGrad-CAM": (S.EigenGradCAM("layer4"), pgc.EigenGradCAM, {}, False),
            "FullGrad": (S.FullGrad(), pgc.FullGrad, {}, False),
            "Score-CAM": (S.ScoreCAM("layer4"), pgc.ScoreCAM, {}, True),
            "Ablation-CAM": (S.AblationCAM("layer4"), pgc.AblationCAM, {}, True)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5, help="rounds for the gradient CAMs")
    ap.add_argument("--heavy-runs", type=int, default=1, help="rounds for Score-CAM and Ablation-CAM (minutes each)")
    ap.add_argument("--heavy-batch", type=int, default=8, help="images for Score-CAM and Ablation-CAM (first n of 8)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None, help="method names to run (default: all)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = calibrated("resnet18", size=224)
    x = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        t = net(x).argmax(1)  # explicit per-image targets (positive logits)
    tg = [ClassifierOutputTarget(int(i)) for i in t]
    layer = [net.layer4]
    rows = []
    for name, (ours, peer, kw, heavy) in pairs().items():
        if args.only and name not in args.only:
            continue

        n = args.heavy_batch if heavy else len(x)

        def theirs(peer=peer, kw=kw, name=name, n=n):
            with peer(model=net, target_layers=[] if name == "FullGrad" else layer, **kw) as cam:
                cam(input_tensor=x[:n], targets=tg[:n])
            net.zero_grad(set_to_none=True)  # the peer fills .grad

        t0 = time.perf_counter()
        r = compare({"ours": lambda ours=ours, n=n: ours(net, x[:n], t[:n]), "peer": theirs},
                    args.heavy_runs if heavy else args.runs, warmup=0 if heavy else 1)
        rows.append((f"{name} (batch {n})", r["ours"], r["peer"], r["peer"] / r["ours"]))
        print(f"{name}: ours {r['ours']:.0f} ms, pytorch-grad-cam {r['peer']:.0f} ms, {r['peer'] / r['ours']:.1f}x "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    lines = [f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__} "
             f"({torch.get_num_threads()} threads), peers {peers()}; runs {args.runs}, heavy runs {args.heavy_runs}",
             "", "| method (resnet18, 224 x 224, layer4) | ours ms | pytorch-grad-cam ms | speed-up |",
             "|---|---|---|---|"]
    lines += [f"| {n} | {a:.0f} | {b:.0f} | **{r:.1f}x** |" for n, a, b, r in rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
