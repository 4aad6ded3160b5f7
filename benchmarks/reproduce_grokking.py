"""Grokking and delayed robustness on MNIST (Humayun, Balestriero, Baraniuk 2024), the paper's MLP setting as far as
it is stated: 1,000 training digits, width 200, 4 linear layers, AdamW lr 1e-3 wd 0.01, batch 200, MSE on one-hot.

Run: OMP_NUM_THREADS=1 python benchmarks/reproduce_grokking.py [--seconds 720] [--root ../shared/data/mnist-10k]
Writes benchmarks/grokking_mnist.json and benchmarks/grokking_mnist.png; prints the rows and the figures.
"""
import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from explorer import load_dataset
from explorer.codes.grokking import CURVES, Settings, at_checkpoint, train_run
from explorer.codes.pgd import adversarial_accuracy

HERE = Path(__file__).resolve().parent


def plot(run, path: Path) -> None:
    """Accuracies and LC against step + 1 on a log axis (the paper's figure layout), a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array(run.steps) + 1
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=80)
    for name in CURVES[:3]:
        a.semilogx(x, run.curve(name), marker=".", label=name)
    for name in CURVES[3:]:
        b.semilogx(x, run.curve(name), marker=".", label=name)
    a.set(xlabel="step + 1", ylabel="accuracy", title=f"MNIST 1k, PGD eps {run.settings.epsilon}")
    b.set(xlabel="step + 1", ylabel="mean LC (units crossed)", title=f"local complexity, r = {run.settings.radius}")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--root", default=str(HERE.parents[1] / "shared" / "data" / "mnist-10k"))
    p.add_argument("--seconds", type=float, default=720, help="training budget: sets the number of steps")
    p.add_argument("--steps", type=int, default=None, help="instead of --seconds")
    p.add_argument("--checkpoints", type=int, default=24)
    p.add_argument("--radius", type=float, default=0.5)
    p.add_argument("--epsilon", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist", root=args.root)  # read in place, never copied
    base = Settings(steps=1, checkpoints=1, width=200, depth=3, lr=1e-3, weight_decay=0.01, batch_size=200,
                    loss="mse", train_points=1000, eval_points=1000, epsilon=args.epsilon, pgd_steps=10,
                    radius=args.radius, n_vertices=50, seed=0)
    steps = args.steps
    if steps is None:  # time the steps between the reports at 50 and 350, and one measurement; fit the budget
        times = {}
        train_run(data, dataclasses.replace(base, steps=400, checkpoints=1),
                  progress=lambda d, t, info=None: times.setdefault(d, time.perf_counter()))
        per_step, measure = (times[350] - times[50]) / 300, times[1] - times[0]
        steps = int((args.seconds - (args.checkpoints + 1) * measure) / per_step)
        print(f"probe: {per_step * 1e3:.2f} ms a step, {measure:.1f} s a measurement: {steps:,} steps in the budget")
    settings = dataclasses.replace(base, steps=steps, checkpoints=args.checkpoints)
    start = time.perf_counter()
    run = train_run(data, settings, progress=lambda d, t, info=None: info and "partial" in info and print(
        f"{time.perf_counter() - start:7.0f} s  " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                        for k, v in info["partial"][-1].items()), flush=True))
    seconds = time.perf_counter() - start
    eps = [0.0, 0.02, 0.05, 0.1, 0.2]
    sweep = {s: adversarial_accuracy(run.model(i), run.x["test"], run.y["test"], eps, 10, seed=0,
                                     bounds=run.bounds).tolist() for i, s in enumerate(run.steps) if i % 4 == 0
             or i == len(run.steps) - 1}
    regions = {s: at_checkpoint(run, i, args.epsilon, 100).near for i, s in enumerate(run.steps)}
    out = {"settings": dataclasses.asdict(settings), "seconds": seconds, "rows": run.rows, "epsilons": eps,
           "adversarial by epsilon": sweep, "regions near the anchors": regions}
    (HERE / "grokking_mnist.json").write_text(json.dumps(out, indent=1))
    plot(run, HERE / "grokking_mnist.png")
    first = next((r["step"] for r in run.rows if r["train accuracy"] == 1.0), None)
    print(f"{steps:,} steps in {seconds:.0f} s; train accuracy first 100% at step {first}")
    for s, accs in sweep.items():
        print(f"step {s:>7,}: adversarial accuracy at eps {eps}: {[round(a, 3) for a in accs]}")
    print("regions near the three anchors (100x100 grid, within 5% of the span):",
          {s: round(v, 1) for s, v in regions.items()})


if __name__ == "__main__":
    main()
