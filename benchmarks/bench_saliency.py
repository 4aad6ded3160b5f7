"""Saliency speed, side by side with pytorch-grad-cam and Captum: python benchmarks/bench_saliency.py [--out FILE]."""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from explorer import Session
from explorer.data import to_uint8
from explorer.saliency import Explainer, GradCAM, InputGradient, IntegratedGradients, SmoothGrad, overlay


def median_ms(fn, runs: int = 7, warmup: int = 1) -> float:
    """Median wall time of fn() in milliseconds."""
    return compare({"": fn}, runs, warmup)[""]


def compare(fns: dict, runs: int = 7, warmup: int = 1, clock=time.perf_counter) -> dict:
    """Median ms of each fn, measured in interleaved rounds so that load from other processes hits all alike; the
    order turns round every other round, so that neither always runs first (on a cold cache or allocator).
    clock=time.process_time: this process's CPU time (with 1 thread: less moved by a loaded machine)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for r in range(runs):
        for k, fn in (list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]):
            t = clock()
            fn()
            times[k].append((clock() - t) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def peers():
    """Versions of the peer libraries that are installed (None if missing)."""
    out = {}
    for mod, dist in (("pytorch_grad_cam", "grad-cam"), ("captum", "captum")):
        try:
            __import__(mod)
            from importlib.metadata import version
            out[dist] = version(dist)
        except ImportError:
            out[dist] = None
    return out


def one_shot(model, layer: str, x: torch.Tensor, targets: torch.Tensor, runs: int) -> dict:
    """Grad-CAM from scratch (forward, gradient, map): ours, pytorch-grad-cam and Captum, interleaved."""
    fns = {"ours Grad-CAM": lambda: GradCAM(layer)(model, x, targets)}
    if peers()["grad-cam"]:
        from pytorch_grad_cam import GradCAM as PGC
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        mod = dict(model.named_modules())[layer]
        tg = [ClassifierOutputTarget(int(t)) for t in targets]

        def pgc():
            with PGC(model=model, target_layers=[mod]) as cam:
                cam(input_tensor=x, targets=tg)
            model.zero_grad(set_to_none=True)  # the peer fills .grad
        fns["pytorch-grad-cam GradCAM"] = pgc
    if peers()["captum"]:
        from captum.attr import LayerAttribution, LayerGradCam

        lgc = LayerGradCam(model, dict(model.named_modules())[layer])
        fns["captum LayerGradCam (+bilinear, no normalise)"] = lambda: LayerAttribution.interpolate(
            lgc.attribute(x, target=targets, relu_attributions=True), tuple(x.shape[-2:]), "bilinear")
    return compare(fns, runs)


def bench_cams(model, layer: str, x: torch.Tensor, runs: int) -> dict:
    """Grad-CAM one-shot (ours, pytorch-grad-cam, Captum), class switch, overlay redraw."""
    r = {}
    targets = torch.arange(len(x)) % 10
    for n in sorted({1, len(x)}):
        r.update({f"{k}, batch {n}": v for k, v in one_shot(model, layer, x[:n], targets[:n], runs).items()})
    for n in (1, len(x)):
        ex = Explainer(model, GradCAM(layer))
        ex(x[:n], targets[:n])
        classes = iter(range(10**6))
        r[f"class switch (Explainer), batch {n}"] = median_ms(
            lambda ex=ex, n=n, classes=classes: ex(x[:n], (targets[:n] + next(classes)) % 10), max(runs, 20))
        ex.clear()
    from explorer.panels._common import display_scale, png

    img = to_uint8((x[:1] - x[:1].min()) / (x[:1].max() - x[:1].min()))[0]
    cam = GradCAM(layer)(model, x[:1])[0].numpy()
    alphas = iter(np.linspace(0.1, 0.9, 1000))
    scale = display_scale(img.shape[0], 192)  # as the panel draws it
    r[f"overlay + png redraw ({img.shape[0] * scale} px)"] = median_ms(
        lambda: png(overlay(img, cam, float(next(alphas)), "jet"), scale), max(runs, 20))
    return r


def bench_inputs(model, x: torch.Tensor, runs: int) -> dict:
    """Input gradient, SmoothGrad (20 samples) and integrated gradients (50 steps): ours vs Captum."""
    t = torch.arange(len(x)) % 10
    fns = {"ours input gradient": lambda: InputGradient()(model, x, t),
           "ours SmoothGrad (20)": lambda: SmoothGrad(samples=20)(model, x, t),
           "ours integrated gradients (50)": lambda: IntegratedGradients(steps=50)(model, x, t)}
    if peers()["captum"]:
        from captum.attr import IntegratedGradients as CIG
        from captum.attr import NoiseTunnel, Saliency

        xs = x.clone().requires_grad_()
        fns["captum Saliency"] = lambda: Saliency(model).attribute(xs, target=t)
        fns["captum NoiseTunnel(Saliency) (20)"] = lambda: NoiseTunnel(Saliency(model)).attribute(
            xs, target=t, nt_type="smoothgrad", nt_samples=20, stdevs=0.1)
        fns["captum IntegratedGradients (50)"] = lambda: CIG(model).attribute(x, target=t, n_steps=50)
    return compare(fns, runs)


def bench_new_cams(runs: int) -> str:
    """Issue 24's CAMs, ours and pytorch-grad-cam 1.5.7 interleaved, mobilenet_v3_small (random weights),
    2 x 3 x 224 x 224 at `features` (the peer: features[-1], the same tensor): a table of medians and ratios."""
    import os

    import pytorch_grad_cam as pgc
    import torchvision
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget, FinerWeightedTarget

    import explorer.saliency as S

    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=10).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    t = [3, 7]
    with torch.no_grad():
        out = net(x).numpy()
    order = np.argsort(np.abs(out - out[np.arange(2), t][:, None]), axis=-1)
    finer = [FinerWeightedTarget(c, [int(j) for j in order[i, 1:4]], 1.0) for i, c in enumerate(t)]
    tg = [ClassifierOutputTarget(c) for c in t]
    pairs = {"Random-CAM": (S.RandomCAM, pgc.RandomCAM, tg), "KPCA-CAM": (S.KPCACAM, pgc.KPCA_CAM, tg),
             "FEM": (S.FEM, pgc.FEM, tg), "ShapleyCAM": (S.ShapleyCAM, pgc.ShapleyCAM, tg),
             "Finer-CAM": (S.FinerCAM, pgc.FinerCAM, finer)}
    load = os.getloadavg()[0]
    lines = [f"### issue 24's CAMs, mobilenet_v3_small, 2 x 3 x 224 x 224, `features`, load {load:.1f}", "",
             "| method | ours ms | pytorch-grad-cam ms | speed-up |", "|---|---|---|---|"]
    for name, (ours, peer, targets) in pairs.items():
        def theirs(peer=peer, targets=targets):
            with peer(model=net, target_layers=[net.features[-1]]) as cam:
                cam(input_tensor=x, targets=targets)
            net.zero_grad(set_to_none=True)
        r = compare({"ours": lambda ours=ours: ours("features")(net, x, t), "peer": theirs}, runs)
        lines.append(f"| {name} | {r['ours']:.1f} | {r['peer']:.1f} | **{r['peer'] / r['ours']:.2f}x** |")
    lines.append(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return "\n".join(lines)


def bench_targets(runs: int) -> str:
    """Issue 24's targets: Grad-CAM and Seg-Eigen-CAM of a segmentation mask on LR-ASPP (mobilenet_v3_large, random
    weights, 2 x 3 x 224 x 224, `backbone.16`), Grad-CAM of Faster R-CNN box scores (mobilenet_v3_large_320_fpn,
    1 x 3 x 224 x 224, `backbone.body.16`); ours and pytorch-grad-cam 1.5.7 interleaved (the peer through the
    wrapper returning `['out']` it needs)."""
    import os

    import pytorch_grad_cam as pgc
    import torchvision
    from pytorch_grad_cam.utils import model_targets as PT

    import explorer.saliency as S

    class Out(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x)["out"]

    torch.manual_seed(0)
    seg = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = seg(x)["out"]
    c = int(out[0].mean((1, 2)).argmax())
    mask = (out[0].argmax(0) == c).float().numpy()
    det = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.0).eval()
    xd = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        d = det(xd)[0]
    boxes, labels = d["boxes"][:3].numpy(), d["labels"][:3].tolist()
    cases = {"Grad-CAM, segmentation mask": (S.GradCAM, pgc.GradCAM, seg, Out(seg), "backbone.16", x,
                                             S.SemanticSegmentationTarget(c, mask),
                                             [PT.SemanticSegmentationTarget(c, mask)] * 2),
             "Seg-Eigen-CAM, segmentation mask": (S.SegEigenCAM, pgc.SegEigenCAM, seg, Out(seg), "backbone.16", x,
                                                  S.SemanticSegmentationTarget(c, mask),
                                                  [PT.SemanticSegmentationTarget(c, mask)] * 2),
             "Grad-CAM, Faster R-CNN box score": (S.GradCAM, pgc.GradCAM, det, det, "backbone.body.16", xd,
                                                  S.FasterRCNNBoxScoreTarget(labels, boxes),
                                                  [PT.FasterRCNNBoxScoreTarget(labels, boxes)])}
    load = os.getloadavg()[0]
    lines = [f"### issue 24's targets, load {load:.1f}", "",
             "| method, target | ours ms | pytorch-grad-cam ms | speed-up |", "|---|---|---|---|"]
    for name, (ours, peer, model, wrapped, layer, xs, ours_t, peer_t) in cases.items():
        mod = dict(model.named_modules())[layer]

        def theirs(peer=peer, wrapped=wrapped, mod=mod, xs=xs, peer_t=peer_t):
            with peer(model=wrapped, target_layers=[mod]) as cam:
                cam(input_tensor=xs, targets=peer_t)
            wrapped.zero_grad(set_to_none=True)
        r = compare({"ours": lambda ours=ours, model=model, layer=layer, xs=xs, t=ours_t: ours(layer)(model, xs, t),
                     "peer": theirs}, runs)
        lines.append(f"| {name} | {r['ours']:.1f} | {r['peer']:.1f} | **{r['peer'] / r['ours']:.2f}x** |")
    lines.append(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", default="")
    ap.add_argument("--new-cams", action="store_true", help="only issue 24's CAMs against the peer")
    ap.add_argument("--targets", action="store_true", help="only issue 24's targets (segmentation, detection)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 on a loaded machine: less contention)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.targets:
        print(bench_targets(args.runs))
        return
    if args.new_cams:
        print(bench_new_cams(args.runs))
        return
    import torchvision

    results = {}
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    x = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    results["resnet18 (random weights), 8 x 3 x 224 x 224, layer4.1"] = bench_cams(net, "layer4.1", x, args.runs)
    session = Session.open(epochs=15, device="cpu")
    xd = session.data.inputs("test")[:8]
    cnn = {**bench_cams(session.model, "conv3", xd, args.runs), **bench_inputs(session.model, xd, args.runs)}
    results["digits SmallCNN (15 epochs), 8 x 1 x 8 x 8, conv3"] = cnn
    lines = [f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__} "
             f"({torch.get_num_threads()} threads), peers {peers()}", ""]
    for title, r in results.items():
        lines += [f"### {title}", "", "| measure | median ms |", "|---|---|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in r.items()]
        for k in [k for k in r if k.startswith("pytorch-grad-cam GradCAM")]:
            batch = k.rsplit(", ", 1)[1]
            ratio = r[k] / r[f"ours Grad-CAM, {batch}"]
            lines.append(f"| **Grad-CAM speed-up vs pytorch-grad-cam, {batch}** | {ratio:.1f}x |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
