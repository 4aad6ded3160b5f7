"""Speed of the neural-codes lab: exact 9-NN on random codes (ours vs scikit-learn's Hamming k-NN, the paper's
method) and the default model's codes and metrics on digits.

    python benchmarks/bench_codes_knn.py [--queries 10000] [--sk-queries 1000] [--device cpu]
    python benchmarks/bench_codes_knn.py --extract 16000 --bits --skip-digits   # codes vs a plain forward,
                                                                                # quiet and under load
    python benchmarks/bench_codes_knn.py --extract 16000 --bits --skip-digits --quick   # 2,000 inputs, one round

--extract also gives each side's peak memory (benchmarks/peak.py: the rise of the resident set in its first call).

scikit-learn is timed on the first --sk-queries queries and extrapolated linearly to all of them (its cost is
linear in the queries); identical neighbour distances and predictions are checked on that subset.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time

import numpy as np
import torch


def popcount_knn(train_bits, query_bits, k):
    """The alternative we measured and dropped: XOR of packed uint64 rows + np.bitwise_count + argpartition."""
    def pack64(b):
        p = np.packbits(b, axis=1)
        w = -(-p.shape[1] // 8) * 8
        return np.ascontiguousarray(np.pad(p, ((0, 0), (0, w - p.shape[1])))).view(np.uint64)
    a, q = pack64(train_bits), pack64(query_bits)
    out = []
    for i in range(0, len(q), 64):
        d = np.bitwise_count(q[i:i + 64, None, :] ^ a[None]).sum(-1, dtype=np.int32)
        out.append(np.argpartition(d, k, axis=1)[:, :k])
    return np.concatenate(out)


def bench_knn(n_bits, n_train, n_queries, sk_queries, device, seed=0):
    from sklearn.neighbors import KNeighborsClassifier

    from explorer.codes import hamming_neighbors, vote

    rng = np.random.default_rng(seed)
    train = (rng.random((n_train, n_bits)) < 0.5).astype(np.uint8)
    query = (rng.random((n_queries, n_bits)) < 0.5).astype(np.uint8)
    y = rng.integers(0, 10, n_train)
    t = time.perf_counter()
    d, idx = hamming_neighbors(train, query, 10, device=device)  # 10: to know where the 9th is tied with the 10th
    ours = time.perf_counter() - t
    pred = vote(y[idx[:, :9]], 10)
    t = time.perf_counter()
    popcount_knn(train, query[:sk_queries], 9)
    pop = (time.perf_counter() - t) * n_queries / sk_queries
    t = time.perf_counter()
    clf = KNeighborsClassifier(9, metric="hamming").fit(train, y)
    sd, _ = clf.kneighbors(query[:sk_queries])
    sk_pred = clf.predict(query[:sk_queries])
    sk = (time.perf_counter() - t) * n_queries / sk_queries
    same_d = np.array_equal(np.rint(sd * n_bits).astype(int), d[:sk_queries, :9])
    clear = d[:sk_queries, 8] < d[:sk_queries, 9]  # the 9 nearest are unambiguous
    same_p = np.array_equal(pred[:sk_queries][clear], sk_pred[clear])
    print(f"| {n_bits} | {ours:.2f} s | {pop:.1f} s (extrap.) | {sk:.1f} s (extrap.) | {sk / ours:.0f}x | "
          f"{'yes' if same_d else 'NO'} | {'yes' if same_p else 'NO'} on {clear.sum()}/{sk_queries} untied, "
          f"{(pred[:sk_queries] == sk_pred).mean():.3f} of all |")


def bench_digits():
    from explorer import Session
    from explorer.codes import knn_accuracy, session_categorization, session_codes, session_determinism

    s = Session.open("digits", "cnn", device="cpu", epochs=15, seed=0)
    t = time.perf_counter()
    tr, te = session_codes(s, split="train"), session_codes(s, split="test")
    session_determinism(s)
    acc = knn_accuracy(tr, s.data.labels("train").numpy(), te, s.data.labels("test").numpy())
    fast = time.perf_counter() - t
    t = time.perf_counter()
    session_categorization(s)
    full = time.perf_counter() - t
    print(f"digits, default CNN (15 epochs), {tr.n_bits} bits: codes (train+test) + redundancy + 9-NN "
          f"{fast:.2f} s (9-NN acc {acc:.3f}); K-Means + one-vs-one LR + baselines (pixels, activations) {full:.1f} s")


def bench_extract(n: int, runs: int = 3):
    """Codes of n 1 x 28 x 28 inputs (SmallCNN, seeded random weights, 50,176 bits each) vs a plain forward over
    the same batches of 256, quiet and under benchmarks/load.py's competing load; ours on the executor's thread
    policy, the plain forward on torch's default threads."""
    import statistics

    from explorer.codes import activation_codes
    from explorer.device import fitted_threads, torch_threads
    from explorer.models import SmallCNN

    try:
        from load import competing_load, load_average
        from peak import Peaks, process_peak_mib
    except ImportError:
        from benchmarks.load import competing_load, load_average
        from benchmarks.peak import Peaks, process_peak_mib
    torch.manual_seed(0)
    net = SmallCNN(1).eval()
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.no_grad():
            for i in range(0, n, 256):
                net(x[i:i + 256])

    print(f"\ncodes of {n} inputs (SmallCNN, 1 x 28 x 28) vs a plain forward, median of {runs} interleaved rounds:\n"
          "| condition | ours threads | codes s | forward s | codes / forward | peak MiB codes / forward | load |\n"
          "|---|---|---|---|---|---|---|")
    for cond in ("quiet", "loaded"):
        with competing_load() if cond == "loaded" else contextlib.nullcontext():
            threads = torch_threads()

            def codes(threads=threads):
                with fitted_threads(threads):
                    activation_codes(net, x, batch_size=256)
            times, peaks = {"codes": [], "forward": []}, Peaks()
            fns = {"codes": peaks.wrap("codes", codes), "forward": peaks.wrap("forward", forward)}
            fns["forward"](), fns["codes"]()  # warm, and the calls whose memory is measured
            for r in range(runs):
                for k, f in (list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]):
                    t = time.perf_counter()
                    f()
                    times[k].append(time.perf_counter() - t)
            c, f = statistics.median(times["codes"]), statistics.median(times["forward"])
            print(f"| {cond} | {threads} | {c:.2f} | {f:.2f} | {c / f:.2f} | {peaks.text('codes')} / "
                  f"{peaks.text('forward')} | {load_average():.1f} |", flush=True)
    print(f"process peak resident set: {process_peak_mib() or 0:.0f} MiB")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=48000)
    p.add_argument("--queries", type=int, default=10000)
    p.add_argument("--sk-queries", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bits", type=int, nargs="*", default=[100, 1000], help="none: only the digits timing")
    p.add_argument("--skip-digits", action="store_true")
    p.add_argument("--extract", type=int, default=0, help="also codes of this many inputs vs a plain forward")
    p.add_argument("--runs", type=int, default=3, help="--extract's interleaved rounds")
    p.add_argument("--quick", action="store_true", help="--extract of at most 2,000 inputs, one round")
    a = p.parse_args()
    if a.quick:
        a.extract, a.runs = min(a.extract, 2000), 1
    import sklearn

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"device {a.device}, load average {os.getloadavg()[0]:.1f}")
    print(f"9-NN, {a.train} train x {a.queries} query codes:\n")
    print("| bits | ours (GEMM) | numpy XOR+bitwise_count | sklearn hamming | speed-up vs sklearn | same distances "
          "| same predictions |\n|---|---|---|---|---|---|---|")
    for nb in a.bits:
        bench_knn(nb, a.train, a.queries, a.sk_queries, a.device)
    if a.extract:
        bench_extract(a.extract, a.runs)
    if not a.skip_digits:
        print()
        bench_digits()


if __name__ == "__main__":
    main()
