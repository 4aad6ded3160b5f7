"""Feature visualisation on the default CNN: the activation maximise reaches per unit vs the best real image.

`OMP_NUM_THREADS=1 python benchmarks/featvis_reach.py [--seed 0] [--units 0 1 2]` prints a markdown table (issue 21,
defect 7): for each unit of relu1 and relu3, the best activation over the train and test images (top_images), the
optimised image's activation with maximise's defaults, and whether it converged.
"""
import argparse

import torch

import explorer
from explorer.geometry import maximise, top_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--units", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--layers", nargs="+", default=["relu1", "relu3"])
    args = ap.parse_args()
    s = explorer.Session.open("digits", "cnn", device="cpu", epochs=15, seed=0)
    x = torch.cat([s.data.inputs("train"), s.data.inputs("test")])
    print("| layer | unit | best real image | maximised | ratio | converged (change over the last steps) |")
    print("|---|---|---|---|---|---|")
    for layer in args.layers:
        for unit in args.units:
            _, best = top_images(s.model, x, layer, unit, k=1)
            v = maximise(s.model, layer, unit, s.data.shape, normalize=s.data.normalize, seed=args.seed)
            ratio = f"{v.trace[-1] / best[0]:.2f}" if best[0] > 0 else "-"
            print(f"| {layer} | {unit} | {best[0]:.3g} | {v.trace[-1]:.3g} | {ratio} | {v.converged} "
                  f"({v.change:.2%}) |", flush=True)


if __name__ == "__main__":
    main()
