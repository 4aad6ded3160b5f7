"""Attribution methods vs Captum (LRP vs zennit), side by side, interleaved rounds, as ratios:
python benchmarks/bench_attributions.py [--batch 8] [--size 224] [--runs 3] [--device cpu] [--load both] [--quick]

--load quiet|loaded|both: the comparisons as they are, under benchmarks/load.py's competing load (one other process
busy on core 0, started and stopped here), or both in one command. Ours runs on the threads the explorer's executor
gives a job (explorer.device.torch_threads, probed once per condition); the peer on torch's default, as its users
run it. Each row also gives the peak memory of one call of each side (benchmarks/peak.py: the rise of the resident
set over the start of its first, untimed call; CUDA: torch's allocated peak). --quick: SmoothGrad and occlusion
only (unless --only), batch 1 at 64 px, one round, a 32/16 occlusion window: a check that it runs, not a figure."""
from __future__ import annotations

import argparse
import contextlib
import copy
import platform
import warnings

import torch

from explorer.device import fitted_threads, parallel_gain, torch_threads
from explorer.saliency import (
    LIME,
    LRP,
    Deconvolution,
    DeepLIFT,
    FeatureAblation,
    GradientSHAP,
    GuidedBackprop,
    GuidedGradCAM,
    KernelSHAP,
    Occlusion,
    ShapleySampling,
    SmoothGrad,
)
from explorer.saliency.methods.superpixels import feature_masks

try:
    from bench_saliency import compare
    from load import competing_load, load_average
    from peak import Peaks, process_peak_mib
except ImportError:  # run as a module
    from benchmarks.bench_saliency import compare
    from benchmarks.load import competing_load, load_average
    from benchmarks.peak import Peaks, process_peak_mib


def resnet(device, size, seed=0):
    """torchvision resnet18, seeded random weights, BN statistics from a few random images, eval."""
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.resnet18(weights=None, num_classes=1000)
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, size, size))
    return net.eval().to(device)


def split_relus(net):
    """A copy whose BasicBlocks use two ReLU modules instead of one called twice: Captum's DeepLift refuses reuse."""
    import types

    from torchvision.models.resnet import BasicBlock

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + identity)

    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, BasicBlock):
            m.relu2 = torch.nn.ReLU()
            m.forward = types.MethodType(forward, m)
    return net


def perturbation_cases(net, x, t, segments, samples, per_eval):
    """LIME, KernelSHAP, feature ablation and Shapley sampling over SLIC superpixels, ours and Captum's, both
    including the segmentation; Captum with perturbations_per_eval=per_eval (its default is 1). The images are
    smooth (8 x 8 noise, bilinear; SLIC finds one superpixel in white noise)."""
    import captum.attr as ca

    peer, orders = copy.deepcopy(net), max(1, samples // 32)
    gen = torch.Generator().manual_seed(2)
    x = torch.nn.functional.interpolate(torch.rand(len(x), 3, 8, 8, generator=gen), size=x.shape[-2:],
                                        mode="bilinear").to(x.device)

    def captum(cls, **kw):
        def run():
            masks = torch.stack(feature_masks(x, segments))[:, None]  # (N, 1, H, W): one mask per image
            return cls(peer).attribute(x, target=t, baselines=0.0, feature_mask=masks,
                                       perturbations_per_eval=per_eval, **kw)
        return run
    kw = {"segments": segments}
    return {
        f"Feature ablation ({segments} superpixels)": (lambda: FeatureAblation(**kw).attributions(net, x, t),
                                                       captum(ca.FeatureAblation)),
        f"Shapley sampling ({orders} orders)": (lambda: ShapleySampling(samples=orders, **kw).attributions(net, x, t),
                                                captum(ca.ShapleyValueSampling, n_samples=orders)),
        f"LIME ({samples} samples)": (lambda: LIME(samples=samples, **kw).attributions(net, x, t),
                                      captum(ca.Lime, n_samples=samples)),
        f"KernelSHAP ({samples} samples)": (lambda: KernelSHAP(samples=samples, **kw).attributions(net, x, t),
                                            captum(ca.KernelShap, n_samples=samples)),
    }


def cases(net, x, t, window, stride):
    """{method: (ours, peer)} callables; the peer runs on its own copy (Captum hooks modules)."""
    import captum.attr as ca

    peer, split = copy.deepcopy(net), split_relus(net)
    base = torch.zeros(4, *x.shape[1:], device=x.device)
    from explorer.saliency import GradCAM, IntegratedGradients

    ig, sg = IntegratedGradients(steps=32), SmoothGrad(samples=8, noise_level=0.1)
    sigma = 0.1 * float((x.max() - x.min()).item())  # Captum's stdevs is absolute: ours scales by each image's range
    out = {
        "Grad-CAM (vs pytorch-grad-cam)": (lambda: GradCAM("layer4")(net, x, t), _pgc(peer, x, t)),
        "Integrated gradients (32)": (lambda: ig.attribute(ig.forward(net, x), t),
                                      lambda: ca.IntegratedGradients(peer).attribute(x, target=t, n_steps=32)),
        "SmoothGrad (8 samples)": (lambda: sg.attribute(sg.forward(net, x), t),
                                   lambda: ca.NoiseTunnel(ca.Saliency(peer)).attribute(
                                       x, target=t, nt_type="smoothgrad", nt_samples=8, stdevs=sigma)),
        "Guided backprop": (lambda: GuidedBackprop().attributions(net, x, t),
                            lambda: ca.GuidedBackprop(peer).attribute(x, target=t)),
        "Deconvolution": (lambda: Deconvolution().attributions(net, x, t),
                          lambda: ca.Deconvolution(peer).attribute(x, target=t)),
        "Guided Grad-CAM": (lambda: GuidedGradCAM("layer4").attributions(net, x, t),
                            lambda: ca.GuidedGradCam(peer, peer.layer4).attribute(x, target=t)),
        f"Occlusion {window}/{stride}": (
            lambda: Occlusion(window, stride).attributions(net, x, t),
            lambda: ca.Occlusion(peer).attribute(x, sliding_window_shapes=(3, window, window),
                                                 strides=(3, stride, stride), target=t)),
        "GradientSHAP (8 samples)": (
            lambda: GradientSHAP(samples=8, baselines=base).attributions(net, x, t),
            lambda: ca.GradientShap(peer).attribute(x, baselines=base, n_samples=8, target=t)),
        # Captum's DeepLift refuses resnet's reused ReLU: it runs on a copy with one ReLU module per call
        "DeepLIFT": (lambda: DeepLIFT().attributions(net, x, t),
                     lambda: ca.DeepLift(split).attribute(x, target=t)),
    }
    try:
        from zennit import composites as zc
        from zennit.torchvision import ResNetCanonizer

        def zennit_direct(name):  # what a zennit user writes: its composite and canonizer on the model (in place)
            def run():
                for mod in net.modules():
                    if hasattr(mod, "inplace"):
                        mod.inplace = False
                kw = {"canonizers": [ResNetCanonizer()]}
                if name == "EpsilonGammaBox":
                    kw.update(low=x.amin((2, 3), keepdim=True), high=x.amax((2, 3), keepdim=True))
                with torch.enable_grad(), getattr(zc, name)(**kw).context(net):
                    xg = x.detach().requires_grad_(True)
                    logits = net(xg)
                    start = torch.zeros_like(logits).scatter_(1, t[:, None], logits.detach().gather(1, t[:, None]))
                    return torch.autograd.grad(logits, xg, start)[0]
            return run

        for name in ("EpsilonPlus", "EpsilonGammaBox", "EpsilonAlpha2Beta1", "EpsilonPlusFlat",
                     "EpsilonAlpha2Beta1Flat"):  # ours: our own rules (backend "own"), the model untouched
            out[f"LRP {name} (vs zennit)"] = (
                lambda name=name: LRP(name, backend="own").attributions(net, x, t), zennit_direct(name))
    except ImportError:
        pass
    return out


def _pgc(peer, x, t):
    """pytorch-grad-cam's GradCAM on layer4, as its README writes it (None where it is not installed)."""
    try:
        from pytorch_grad_cam import GradCAM as PGC
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        return None
    tg = [ClassifierOutputTarget(int(c)) for c in t]

    def run():
        with PGC(model=peer, target_layers=[peer.layer4]) as cam:
            cam(input_tensor=x, targets=tg)
        peer.zero_grad(set_to_none=True)
    return run


def table(todo: dict, runs: int, dev, threads: int | None = None) -> dict:
    """{method: (ours ms, peer ms, ours peak MiB, peer peak MiB)}: ours on the executor's thread policy (or
    `threads`), the peer on torch's default threads; peaks: the largest rise of memory in one call."""
    n = threads or torch_threads()
    print(f"  ours on {n} thread(s) (probe: 2 threads {parallel_gain(2):.2f}x one), peers on "
          f"{torch.get_num_threads()}, load {load_average():.1f}", flush=True)
    out = {}
    for name, (ours, peer) in todo.items():
        def fitted(ours=ours):
            with fitted_threads(n):
                return ours()
        peaks = Peaks(dev)
        ms = compare({"ours": peaks.wrap("ours", fitted), "peer": peaks.wrap("peer", peer)}, runs=runs, warmup=1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out[name] = (ms["ours"], ms["peer"], peaks.mib("ours"), peaks.mib("peer"))
        print(f"  {name:32s} {ms['ours']:10.1f} {ms['peer']:10.1f} {ms['peer'] / ms['ours']:10.2f} "
              f"{peaks.text('ours'):>9s} {peaks.text('peer'):>9s}  load {load_average():.1f}", flush=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--window", type=int, default=56)
    p.add_argument("--stride", type=int, default=28)
    p.add_argument("--segments", type=int, default=16, help="superpixels of the perturbation methods")
    p.add_argument("--samples", type=int, default=64, help="LIME / KernelSHAP samples (Shapley: samples // 32 orders)")
    p.add_argument("--per-eval", type=int, default=16, help="Captum's perturbations_per_eval")
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", nargs="*", help="method names to run (prefix match)")
    p.add_argument("--ours-threads", type=int, default=None,
                   help="ours on this many threads (default: the executor's policy; torch's default: the old way)")
    p.add_argument("--load", choices=("quiet", "loaded", "both"), default="quiet")
    p.add_argument("--quick", action="store_true", help="batch 1, 64 px, one round: a check that it runs")
    a = p.parse_args()
    if a.quick:
        a.batch, a.size, a.runs, a.window, a.stride = 1, 64, 1, 32, 16  # 64: layer4 still 2 x 2
        a.only = a.only or ["SmoothGrad", "Occlusion"]
    warnings.simplefilter("ignore")
    import captum

    dev = torch.device(a.device)
    net = resnet(dev, a.size)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=gen).to(dev)
    t = torch.arange(a.batch, device=dev) * 7 % 1000
    print(f"resnet18 random weights, batch {a.batch} x 3 x {a.size} x {a.size}, {dev}, torch {torch.__version__}, "
          f"captum {captum.__version__}, {torch.get_num_threads()} threads, {platform.machine()}, "
          f"median of {a.runs} interleaved rounds")
    every = {**cases(net, x, t, a.window, a.stride),
             **perturbation_cases(net, x, t, a.segments, a.samples, a.per_eval)}
    todo = {k: v for k, v in every.items()
            if v[1] is not None and (not a.only or any(k.startswith(o) for o in a.only))}
    results = {}
    for cond in (("quiet", "loaded") if a.load == "both" else (a.load,)):
        print(f"\n{cond}:\n  {'method':32s} {'ours ms':>10s} {'peer ms':>10s} {'peer/ours':>10s} "
              f"{'ours MiB':>9s} {'peer MiB':>9s}")
        with competing_load() if cond == "loaded" else contextlib.nullcontext():
            results[cond] = table(todo, a.runs, dev, a.ours_threads)
    if len(results) == 2:
        print("\n| method | quiet peer/ours | loaded peer/ours | loaded / quiet | peak MiB ours / peer |\n"
              "|---|---|---|---|---|")
        for name in todo:
            q, lo = (results[c][name][1] / results[c][name][0] for c in ("quiet", "loaded"))
            mo, mp = (max((results[c][name][i] or 0) for c in results) for i in (2, 3))  # both conditions
            print(f"| {name} | {q:.2f} | {lo:.2f} | {lo / q:.2f} | {mo:.0f} / {mp:.0f} |")
    print(f"\nprocess peak resident set: {process_peak_mib() or 0:.0f} MiB")


if __name__ == "__main__":
    main()
