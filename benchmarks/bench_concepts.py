"""Issue 24's remaining methods beside their peers: RefineCAM and DFF (pytorch-grad-cam 1.5.7), layer conductance
and TCAV (Captum), medians of interleaved runs: python benchmarks/bench_concepts.py [--runs 5] [--only concepts]
[--cpu-time] (1 thread, this process's CPU time: for a loaded machine)."""
from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time

import bench_saliency
import torch


def rows(runs: int, only: str = "", clock=time.perf_counter) -> list[tuple[str, dict]]:
    import pytorch_grad_cam as pgc
    from captum.attr import LayerConductance as CapLC
    from captum.concept import TCAV, Concept
    from pytorch_grad_cam.refine_cam import RefineCAM as PeerRefine
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from explorer.saliency import RefineCAM
    from explorer.saliency.dff import deep_feature_factorization
    from explorer.saliency.methods.conductance import conductance
    from explorer.saliency.tcav import tcav
    from explorer.testing import calibrated

    net = calibrated("resnet18", size=224)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    t = net(x).argmax(1).detach()
    tg = [ClassifierOutputTarget(int(c)) for c in t]
    out = []
    compare = functools.partial(bench_saliency.compare, clock=clock)  # wall, or CPU time (--cpu-time)

    def peer_refine():
        p = PeerRefine(net, [net.layer3, net.layer4])
        p(x, tg)
        for cam in p.base_cam_per_layer:
            cam.activations_and_grads.release()
        net.zero_grad(set_to_none=True)

    from pytorch_grad_cam.sess import SESS as PeerSESS

    from explorer.saliency import SESS

    x1 = torch.randn(1, 3, 112, 112, generator=torch.Generator().manual_seed(4))
    t1 = net(x1).argmax(1).detach()

    def peer_sess():
        with PeerSESS(net, [net.layer4], num_scales=6) as p:
            p(x1, [ClassifierOutputTarget(int(t1[0]))])
        net.zero_grad(set_to_none=True)

    if only != "concepts":
        out.append(("SESS (Grad-CAM), 6 scales, layer4, 1 x 112", compare(
            {"ours": lambda: SESS("layer4", num_scales=6)(net, x1, t1), "peer": peer_sess}, runs)))
    if only == "sess":
        return out
    if only != "concepts":
        out.append(("RefineCAM (Grad-CAM++), layer3 + layer4, 2 x 224", compare(
            {"ours": lambda: RefineCAM(["layer3", "layer4"])(net, x, t), "peer": peer_refine}, runs)))

    x4 = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))

    def peer_dff():
        d = pgc.DeepFeatureFactorization(net, net.layer4, computation_on_concepts=net.fc)
        d(x4, n_components=5)
        d.activations_and_grads.release()

    out.append(("DFF, 5 concepts + fc head, layer4, 4 x 224", compare(
        {"ours": lambda: deep_feature_factorization(net, x4, "layer4", 5, head="fc"), "peer": peer_dff}, runs)))

    xs = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(2))
    ts = net(xs).argmax(1).detach()
    out.append(("layer conductance, 20 steps, layer3, 2 x 112", compare(
        {"ours": lambda: conductance(net, xs, "layer3", ts, steps=20),
         "peer": lambda: CapLC(net, net.layer3).attribute(xs, target=ts.tolist(), n_steps=20)}, runs)))

    g = torch.Generator().manual_seed(3)
    concept, pool = torch.randn(20, 3, 64, 64, generator=g) + 1, torch.randn(120, 3, 64, 64, generator=g)
    inputs, R = torch.randn(16, 3, 64, 64, generator=g), 5
    sets = [pool[20 * i:20 * (i + 1)] for i in range(R + 1)]

    def peer_tcav():  # concept vs randoms 1..R and random 0 vs randoms 1..R, Captum's own classifier
        cs = [Concept(0, "c", iter([concept]))] + [Concept(i + 1, f"r{i}", iter([s])) for i, s in enumerate(sets)]
        with tempfile.TemporaryDirectory() as tmp:
            exp = [[cs[0], cs[i + 1]] for i in range(1, R + 1)] + [[cs[1], cs[i + 1]] for i in range(1, R + 1)]
            TCAV(net, ["layer3"], save_path=tmp).interpret(inputs, exp, target=0)

    out.append(("TCAV, 5 random sets + null, layer3, 20 examples, 16 inputs, 64 px", compare(
        {"ours": lambda: tcav(net, "layer3", concept, sets, inputs, target=0, runs=R), "peer": peer_tcav}, runs)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="", help="'sess': that row alone; 'concepts': DFF, conductance and TCAV")
    ap.add_argument("--cpu-time", action="store_true", help="1 thread, CPU time of this process (a loaded machine)")
    args = ap.parse_args()
    torch.set_num_threads(1 if args.cpu_time else 2)
    import warnings

    warnings.filterwarnings("ignore")
    load = os.getloadavg()[0]
    clock = "CPU time, 1 thread" if args.cpu_time else "wall, 2 threads"
    lines = [f"load before: {load:.1f}, {clock}", "", "| method | ours ms | peer ms | speed-up |", "|---|---|---|---|"]
    for name, r in rows(args.runs, args.only, time.process_time if args.cpu_time else time.perf_counter):
        lines.append(f"| {name} | {r['ours']:.0f} | {r['peer']:.0f} | **{r['peer'] / r['ours']:.2f}x** |")
        print(lines[-1], flush=True)
    lines.append(f"\nload after: {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
