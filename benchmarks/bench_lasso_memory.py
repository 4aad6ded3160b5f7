"""Lasso statistics peak memory (tracemalloc): the codes panel's boolean formula vs codes.selection_summary.

Run: PYTHONPATH=. python benchmarks/bench_lasso_memory.py  (default model, whole digits test split; and
3,000 points of random 36,864-bit codes, the size of a 24 x 24 CNN, for selection_summary only)
"""
import tracemalloc

import numpy as np

from explorer import Session
from explorer.codes import redundancy, selection_summary, session_codes

s = Session.open("digits", "cnn", device="cpu")
codes = session_codes(s, split="test")
idx = np.arange(len(codes))
y = s.data.labels("test").numpy()
for name, f in (("boolean (panel today)", lambda: (lambda b: ((b[:, None, :] != b[None, :200]).sum(-1).mean(),
                                                               redundancy(b), b.mean()))(codes.bits()[idx])),
                ("selection_summary", lambda: selection_summary(codes, idx, y, 10))):
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{name}: {len(idx)} points x {codes.n_bits} bits, peak {peak / 2**20:.1f} MiB (packed codes "
          f"{codes.packed.nbytes / 2**20:.2f} MiB)")

from explorer.codes import Codes  # noqa: E402

rng = np.random.default_rng(0)
n, n_bits = 3000, 36_864
big = Codes(rng.integers(0, 256, (n, n_bits // 8), dtype=np.uint8), n_bits, ("relu",), ("relu",),
            np.array([0, n_bits]))
tracemalloc.start()
selection_summary(big, np.arange(n))
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(f"selection_summary: {n} points x {n_bits} bits, peak {peak / 2**20:.1f} MiB (packed codes "
      f"{big.packed.nbytes / 2**20:.1f} MiB; the boolean formula would allocate {n * 200 * n_bits / 2**30:.1f} GiB)")
