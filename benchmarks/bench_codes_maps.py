"""Maps of codes: t-SNE by scikit-learn vs openTSNE (explorer's default when installed) side by side, on the
1,797 digits codes and on 10,000 MNIST codes; and the first UMAP map in a fresh process, numba cache cold vs warm.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_codes_maps.py --root /work/shared/data/mnist-10k [--skip-umap]
Codes: all hidden ReLUs of a one-hidden-layer MLP (width 64 on digits, 100 on MNIST) after 3 epochs, train and
test splits together. Both t-SNEs: Hamming, perplexity 30, PCA init, one thread.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

UMAP_CHILD = """
import time
t0 = time.perf_counter()
import numpy as np
from explorer.codes.embed import fit_map
bits = np.load({path!r})
t1 = time.perf_counter()
fit_map(bits, "UMAP", seed=0)
print(f"{{time.perf_counter() - t1:.1f}} {{t1 - t0:.1f}}")
"""


def codes_of(data, width):
    from explorer import MLP, Session
    from explorer.codes import session_codes

    s = Session(MLP(data.shape, width=width, depth=1, n_classes=data.n_classes).eval(), data)
    s.train(epochs=3, seed=0, checkpoint_epochs=[])
    return np.concatenate([session_codes(s, split=sp).bits() for sp in ("train", "test")])


def tsne_pair(bits, label):
    from sklearn.manifold import TSNE, trustworthiness

    from explorer.codes import fit_map

    start = time.perf_counter()
    a = TSNE(2, perplexity=30, metric="hamming", init="pca", random_state=0).fit_transform(bits)
    t_sk = time.perf_counter() - start
    start = time.perf_counter()
    b = fit_map(bits, "t-SNE", seed=0).coords
    t_ot = time.perf_counter() - start
    sub = np.random.default_rng(0).choice(len(bits), min(len(bits), 2000), replace=False)
    tw = [trustworthiness(bits[sub], x[sub], n_neighbors=10, metric="hamming") for x in (a, b)]
    print(f"| t-SNE, {label}, {bits.shape[0]:,} x {bits.shape[1]} bits | {t_sk:.1f} s | {t_ot:.1f} s | "
          f"{t_sk / t_ot:.2f}x | {tw[0]:.3f} / {tw[1]:.3f} |", flush=True)


def umap_cold_warm(bits):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bits.npy")
        np.save(path, bits)
        env = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(tmp, "numba")}
        for state in ("cold (empty cache)", "warm (cache from the run before)"):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", UMAP_CHILD.format(path=path)], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            print(f"| first UMAP map in a fresh process, {state} | {time.perf_counter() - start:.1f} s whole "
                  f"process | {out[0]} s fit (imports {out[1]} s) |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/work/shared/data/mnist-10k")
    p.add_argument("--skip-umap", action="store_true")
    p.add_argument("--skip-tsne", action="store_true")
    a = p.parse_args()
    from explorer import load_dataset

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (a shared machine)\n")
    digits = codes_of(load_dataset("digits"), 64)
    if not a.skip_tsne:
        mnist = codes_of(load_dataset("mnist", root=a.root), 100)
        print("| map | scikit-learn | openTSNE | ratio | trustworthiness (10-NN, 2,000 points) sklearn / openTSNE |"
              "\n|---|---|---|---|---|")
        tsne_pair(digits, "digits codes")
        tsne_pair(mnist, "MNIST codes")
    if not a.skip_umap:
        print("\n| UMAP (Hamming), digits codes | time | |\n|---|---|---|")
        umap_cold_warm(digits)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
