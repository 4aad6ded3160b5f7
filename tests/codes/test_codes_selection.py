"""selection_summary: the codes map's lasso statistics, exact and memory-bounded."""
import tracemalloc

import numpy as np
import pytest

from explorer.codes import Codes, redundancy, selection_summary


def _codes(bits: np.ndarray) -> Codes:
    return Codes(np.packbits(bits, axis=1), bits.shape[1], ("relu",), ("relu",), np.array([0, bits.shape[1]]))


def _boolean(bits, idx, labels, n_classes):
    """The panel's formula (n x 200 x bits booleans)."""
    b = bits[idx]
    d = (b[:, None, :] != b[None, :200]).sum(-1).mean() if len(b) > 1 else 0.0
    r = redundancy(b)
    return r["unique codes"], r["redundancy ratio"], b.mean(), d, np.bincount(labels[idx], minlength=n_classes)


@pytest.mark.parametrize("n_bits,n_sel", [(13, 1), (13, 7), (77, 250), (64, 300)])
def test_equals_the_boolean_formula(n_bits, n_sel):
    rng = np.random.default_rng(n_bits + n_sel)
    bits = (rng.random((400, n_bits)) < 0.3).astype(np.uint8)
    bits[50:80] = bits[0]  # repeated codes, so redundancy is not 0
    labels = rng.integers(0, 5, 400)
    idx = rng.permutation(400)[:n_sel]
    idx[: n_sel // 3] = np.arange(50, 50 + n_sel // 3)  # some of the repeats selected
    want = _boolean(bits, idx, labels, 5)
    for codes in (_codes(bits), bits):
        for chunk in (1 << 26, 7):  # one chunk, and a few rows at a time (a chunking bug shows)
            got = selection_summary(codes, idx, labels, 5, chunk_bytes=chunk)
            assert (got["unique codes"], got["redundancy ratio"]) == want[:2]
            assert got["share of bits on"] == pytest.approx(want[2], abs=1e-12)
            assert got["mean Hamming distance"] == pytest.approx(want[3], rel=1e-12)
            np.testing.assert_array_equal(got["label counts"], want[4])
            assert got["n"] == n_sel and got["bits"] == n_bits
    with pytest.raises(ValueError, match="no codes selected"):
        selection_summary(bits, [])


def test_peak_memory_stays_under_twice_the_packed_codes_plus_256_mb():
    """4,000 codes of 100,000 bits: 50 MB packed; the boolean formula would need 80 GB, a full unpack 400 MB."""
    n, n_bits = 4000, 100_000
    rng = np.random.default_rng(0)
    packed = rng.integers(0, 256, (n, n_bits // 8), dtype=np.uint8)
    codes = Codes(packed, n_bits, ("relu",), ("relu",), np.array([0, n_bits]))
    idx = rng.permutation(n)[:3000]
    tracemalloc.start()
    try:
        got = selection_summary(codes, idx, np.zeros(n, dtype=int), 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * packed.nbytes + (256 << 20), f"peak {peak / 2**20:.0f} MiB"
    assert got["mean Hamming distance"] == pytest.approx(n_bits / 2 * (1 - 1 / 3000), rel=1e-3)  # 200 self-pairs
    assert got["unique codes"] == 3000
