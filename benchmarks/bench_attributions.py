"""Attribution methods vs Captum (LRP vs zennit), side by side, interleaved rounds, as ratios:
python benchmarks/bench_attributions.py [--batch 8] [--size 224] [--runs 3] [--device cpu]."""
from __future__ import annotations

import argparse
import copy
import platform
import warnings

import torch

from explorer.saliency import LRP, Deconvolution, DeepLIFT, GradientSHAP, GuidedBackprop, GuidedGradCAM, Occlusion

try:
    from bench_saliency import compare
except ImportError:  # run as a module
    from benchmarks.bench_saliency import compare


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


def cases(net, x, t, window, stride):
    """{method: (ours, peer)} callables; the peer runs on its own copy (Captum hooks modules)."""
    import captum.attr as ca

    peer, split = copy.deepcopy(net), split_relus(net)
    base = torch.zeros(4, *x.shape[1:], device=x.device)
    out = {
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
        import zennit  # noqa: F401

        from explorer.saliency.methods.lrp import zennit_rules

        def zennit_direct():  # what a zennit user writes: composite on a copy (canonizers edit weights)
            m = copy.deepcopy(net)
            for mod in m.modules():
                if hasattr(mod, "inplace"):
                    mod.inplace = False
            with torch.enable_grad(), zennit_rules(m, "epsilon_plus", 1e-6):
                xg = x.detach().requires_grad_(True)
                logits = m(xg)
                start = torch.zeros_like(logits).scatter_(1, t[:, None], logits.detach().gather(1, t[:, None]))
                return torch.autograd.grad(logits, xg, start)[0]

        out["LRP epsilon-plus (vs zennit)"] = (lambda: LRP("epsilon_plus").attributions(net, x, t), zennit_direct)
    except ImportError:
        pass
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--window", type=int, default=56)
    p.add_argument("--stride", type=int, default=28)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", nargs="*", help="method names to run (prefix match)")
    a = p.parse_args()
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
    print(f"{'method':32s} {'ours ms':>10s} {'peer ms':>10s} {'peer/ours':>10s}")
    for name, (ours, peer) in cases(net, x, t, a.window, a.stride).items():
        if a.only and not any(name.startswith(o) for o in a.only):
            continue
        ms = compare({"ours": ours, "peer": peer}, runs=a.runs, warmup=1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        print(f"{name:32s} {ms['ours']:10.1f} {ms['peer']:10.1f} {ms['peer'] / ms['ours']:10.2f}", flush=True)


if __name__ == "__main__":
    main()
