"""The default small CNN on digits: test accuracy and CPU training time over several seeds.

Run: python benchmarks/bench_train.py [--seeds 5] [--epochs 15] [--threads 2]
"""
import argparse
import platform
import statistics
import time

import torch

from explorer import Session, load_dataset


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("digits")
    rows = []
    for seed in range(args.seeds):
        start = time.perf_counter()
        s = Session.open(data, "cnn", device=args.device, epochs=args.epochs, seed=seed)
        total = time.perf_counter() - start
        rows.append((seed, s.evaluate("test").accuracy, s.history.seconds, total))
        print(f"seed {seed}: test accuracy {rows[-1][1]:.4f}, training {rows[-1][2]:.2f} s "
              f"(with model build and evaluation {total:.2f} s)")
    accs, secs = [r[1] for r in rows], [r[2] for r in rows]
    print(f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"device {args.device}, {args.epochs} epochs")
    print(f"test accuracy: min {min(accs):.4f}, median {statistics.median(accs):.4f}, max {max(accs):.4f}")
    print(f"training time: median {statistics.median(secs):.2f} s, max {max(secs):.2f} s")


if __name__ == "__main__":
    main()
