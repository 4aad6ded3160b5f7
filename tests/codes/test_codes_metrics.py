"""Redundancy on constructed duplicates, purity and Hungarian accuracy with known answers, classifier errors."""
import numpy as np
import pytest

from explorer.codes import (
    categorization,
    determinism,
    hungarian_accuracy,
    kmeans_scores,
    logistic_accuracy,
    purity,
    redundancy,
)
from explorer.codes.extract import Codes


def make_codes(bits, parts=("a",), bounds=None):
    bits = np.asarray(bits, dtype=np.uint8)
    return Codes(np.packbits(bits, axis=1), bits.shape[1], tuple(p.split(":")[0] for p in parts), tuple(parts),
                 np.asarray(bounds if bounds is not None else [0, bits.shape[1]]))


def test_redundancy_on_constructed_duplicates():
    # rows: A, A, A, B, C, C, D -> 4 unique of 7; 5 inputs share their code with another
    a, b, c, d = [1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]
    r = redundancy(make_codes([a, a, a, b, c, c, d]))
    assert r["unique codes"] == 4 and r["redundancy ratio"] == pytest.approx(3 / 7)
    assert r["share sharing a code"] == pytest.approx(5 / 7)
    assert redundancy(np.eye(4, dtype=np.uint8))["redundancy ratio"] == 0


def test_redundancy_ignores_padding_bits():
    # 9 bits: packbits pads to 16; codes that differ only in bit 9 are distinct
    bits = np.zeros((2, 9), np.uint8)
    bits[1, 8] = 1
    assert redundancy(make_codes(bits))["unique codes"] == 2


def test_determinism_per_layer_and_whole():
    # layer a (2 bits) identical for all; layer b (1 bit) splits them: whole network all unique
    codes = make_codes([[1, 0, 0], [1, 0, 1]], parts=("a", "b"), bounds=[0, 2, 3])
    rows = {(r["split"], r["layer"]): r for r in determinism({"test": codes})}
    assert rows["test", "all layers"]["redundancy ratio"] == 0
    assert rows["test", "a"]["redundancy ratio"] == 0.5 and rows["test", "a"]["bits"] == 2
    assert rows["test", "b"]["unique codes"] == 2


def test_purity_and_hungarian_known_answer():
    # clusters 0, 0, 0, 1, 1, 1 over labels 0, 0, 1, 0, 0, 1: both clusters' majority is label 0
    clusters, y = [0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 0, 1]
    assert purity(clusters, y) == pytest.approx(4 / 6)  # majority in each cluster: 2 + 2
    assert hungarian_accuracy(clusters, y) == pytest.approx(3 / 6)  # one-to-one: cluster 0 -> 0 (2), 1 -> 1 (1)
    assert purity([5, 5, 7, 7], [1, 1, 0, 0]) == hungarian_accuracy([5, 5, 7, 7], [1, 1, 0, 0]) == 1.0


def test_kmeans_and_logistic_on_separable_codes():
    rng = np.random.default_rng(0)
    protos = rng.integers(0, 2, (3, 40))
    y = np.repeat(np.arange(3), 20)
    bits = protos[y] ^ (rng.random((60, 40)) < 0.05)
    s = kmeans_scores(bits, y, n_clusters=3)
    assert s["purity"] == s["hungarian"] == 1.0
    assert logistic_accuracy(bits, y, bits, y) == 1.0
    row = categorization({"codes": (make_codes(bits), make_codes(bits))}, y, y, k=3, n_clusters=3)[0]
    assert row["3-NN"] == 1.0 and row["K-Means purity test"] == 1.0


def test_errors():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="at least 10 samples"):
        kmeans_scores(x, [0, 1, 0, 1, 0], n_clusters=10)
    with pytest.raises(ValueError, match="two classes"):
        kmeans_scores(np.zeros((12, 3)), np.zeros(12, int))
    with pytest.raises(ValueError, match="two classes"):
        logistic_accuracy(x, np.ones(5, int), x, np.ones(5, int))
    with pytest.raises(ValueError, match="at least 9 samples"):
        categorization({"codes": (make_codes(x), make_codes(x))}, [0, 1, 0, 1, 0], [0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="no codes"):
        redundancy(np.zeros((0, 3)))
