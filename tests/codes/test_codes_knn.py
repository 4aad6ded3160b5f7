"""Exact Hamming k-NN: brute-force distances with index tie order, and parity with scikit-learn."""
import numpy as np
import pytest

from explorer.codes import Codes, hamming_neighbors, knn_predict, vote


def brute(train, query, k):
    d = (query[:, None, :] != train[None]).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(len(train)), d.shape), d), axis=1)[:, :k]  # distance, then index
    return np.take_along_axis(d, order, 1), order


@pytest.mark.parametrize("n_bits", [7, 70])
def test_matches_brute_force_with_index_ties(n_bits):
    rng = np.random.default_rng(n_bits)
    train = rng.integers(0, 2, (300, n_bits), dtype=np.uint8)
    train[100:160] = train[0]  # 61 equal codes: more ties than the top-k shortcut keeps, so the exact path runs
    query = np.vstack([train[:1], rng.integers(0, 2, (20, n_bits), dtype=np.uint8)])
    codes = Codes(np.packbits(train, axis=1), n_bits, ("a",), ("a",), np.array([0, n_bits]))
    for k in (1, 9, 40):
        bd, bi = brute(train, query, k)
        for tr, kw in ((train, {}), (codes, {"chunk_bytes": 4 * 300 * 6}),  # chunks of 6 queries
                       (train, {"train_bytes": 4 * n_bits * 70})):  # blocks of 70 train codes, merged
            d, i = hamming_neighbors(tr, query, k, **kw)
            np.testing.assert_array_equal(d, bd)
            np.testing.assert_array_equal(i, bi)
    d, i = hamming_neighbors(train[:5], query, 5)  # k = N: every train code, in order
    np.testing.assert_array_equal(i, brute(train[:5], query, 5)[1])


def test_vote_ties_go_to_the_smallest_label():
    assert vote(np.array([[2, 1, 1, 2], [3, 0, 3, 0], [4, 4, 1, 2]])).tolist() == [1, 0, 4]


def test_parity_with_sklearn_hamming_knn():
    sk = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(0)
    train = rng.integers(0, 2, (400, 256), dtype=np.uint8)
    y = rng.integers(0, 5, 400)
    query = rng.integers(0, 2, (60, 256), dtype=np.uint8)
    clf = sk.KNeighborsClassifier(9, metric="hamming").fit(train, y)
    sd, _ = clf.kneighbors(query)
    d, _ = hamming_neighbors(train, query, 9)
    np.testing.assert_array_equal(d, np.rint(sd * 256).astype(int))  # sklearn's hamming is a fraction of bits
    # predictions agree wherever the 9 nearest are well defined (no tie between the 9th and the 10th)
    d10, _ = hamming_neighbors(train, query, 10)
    clear = d10[:, 8] < d10[:, 9]
    assert clear.sum() > 20
    np.testing.assert_array_equal(knn_predict(train, y, query)[clear], clf.predict(query)[clear])


def test_constructed_vote_tie_agrees_with_sklearn():
    sk = pytest.importorskip("sklearn.neighbors")
    # query 0000000000; neighbours at distances 1, 2, 3, 4 with labels 3, 3, 1, 1, the rest far: a 2-2 vote tie
    train = np.zeros((6, 10), np.uint8)
    for i, n in enumerate([1, 2, 3, 4, 8, 9]):
        train[i, :n] = 1
    y = np.array([3, 3, 1, 1, 0, 0])
    query = np.zeros((1, 10), np.uint8)
    assert knn_predict(train, y, query, k=4).tolist() == [1]
    assert sk.KNeighborsClassifier(4, metric="hamming").fit(train, y).predict(query).tolist() == [1]


def test_errors():
    a = np.zeros((5, 8), np.uint8)
    with pytest.raises(ValueError, match="between 1 and"):
        hamming_neighbors(a, a, 9)
    with pytest.raises(ValueError, match="bits"):
        hamming_neighbors(a, np.zeros((2, 9), np.uint8), 1)
    with pytest.raises(ValueError, match="labels"):
        knn_predict(a, [0, 1], a, 1)


def test_bit_chunks_bound_the_float_blocks(largest_tensor):
    """A small chunk_bytes splits the bits too: no float block passes it, and the result is still exact."""
    rng = np.random.default_rng(1)
    n_bits = 20_003  # not a multiple of 8: the last chunk is partial
    train = rng.integers(0, 2, (60, n_bits), dtype=np.uint8)
    train[30:45] = train[3]  # ties, ordered by index
    query = np.vstack([train[3:4], rng.integers(0, 2, (25, n_bits), dtype=np.uint8)])
    codes = Codes(np.packbits(train, axis=1), n_bits, ("a",), ("a",), np.array([0, n_bits]))
    qcodes = Codes(np.packbits(query, axis=1), n_bits, ("a",), ("a",), np.array([0, n_bits]))
    bd, bi = brute(train, query, 9)
    budget = 1 << 16  # 64 KiB: blocks of 60 train codes x 272 bits
    for tr, q in ((codes, qcodes), (train, query)):
        with largest_tensor() as seen:
            d, i = hamming_neighbors(tr, q, 9, chunk_bytes=budget)
        np.testing.assert_array_equal(d, bd)
        np.testing.assert_array_equal(i, bi)
        assert 0 < seen.bytes <= budget  # the old code unpacked whole rows: 60 x 20,003 floats (4.8 MB)
