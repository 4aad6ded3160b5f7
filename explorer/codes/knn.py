"""Exact Hamming k-NN on bit-packed codes: a GEMM, chunked over codes and bits, on any torch device."""
from __future__ import annotations

import numpy as np
import torch


def _smallest(v: torch.Tensor, k: int, spare: int = 32):
    """Indices (q, k) of the k smallest of each row of integer-valued v, equal values ordered by index."""
    n = v.shape[1]
    m = min(n, k + spare)
    vals, idx = torch.topk(v, m, dim=1, largest=False, sorted=True)
    # rows whose k-th value recurs beyond the m found may hide smaller-index ties: redo those rows exactly
    crowded = (vals[:, -1] == vals[:, k - 1]) if m < n else torch.zeros(len(v), dtype=torch.bool, device=v.device)
    key = vals.round().long() * n + idx  # int64, not float64: MPS has no float64
    out = idx.gather(1, torch.sort(key, dim=1).indices[:, :k])
    if crowded.any():
        rows = crowded.nonzero().flatten()
        full = v[rows].round().long() * n + torch.arange(n, device=v.device)
        out[rows] = torch.topk(full, k, dim=1, largest=False, sorted=True).indices
    return out


def hamming_neighbors(train, query, k: int = 9, device=None, chunk_bytes: int = 1 << 27,
                      train_bytes: int = 1 << 30):
    """Distances and indices (Q, k) of the k nearest train codes of each query in bit differences, nearest first.

    Uses d(a, b) = |a| + |b| - 2 a.b as a GEMM on 0/1 floats (exact in float32 below 2^24 bits, else float64),
    over blocks of train codes (at most train_bytes of them unpacked), chunks of queries and chunks of bits, so that
    no float block (train, query or distances) passes chunk_bytes; the integer sums over bit chunks are exact.
    Equal distances are ordered by train index, so results are deterministic.
    """
    n, nq = len(train), len(query)
    n_bits = _n_bits(train)
    if _n_bits(query) != n_bits:
        raise ValueError(f"train codes have {n_bits} bits but query codes {_n_bits(query)}")
    if not 1 <= k <= n:
        raise ValueError(f"k = {k} must be between 1 and the number of train codes ({n})")
    device = torch.device(device or "cpu")
    dtype = torch.float32 if n_bits < 2 ** 24 else torch.float64
    size = torch.finfo(dtype).bits // 8
    dist, idx = torch.zeros((nq, k), dtype=torch.long), torch.zeros((nq, k), dtype=torch.long)
    block = max(k, min(train_bytes // (size * max(n_bits, 1)), chunk_bytes // (size * 8)))
    for lo in range(0, n, block):
        rows = min(block, n - lo)
        m = min(k, rows)
        # bits per chunk: a multiple of 8 (whole packed bytes), so the train chunk fits in chunk_bytes
        width = n_bits if rows * n_bits * size <= chunk_bytes else max(8, chunk_bytes // (size * rows) // 8 * 8)
        step = max(1, chunk_bytes // (size * max(rows, min(width, n_bits))))
        for i in range(0, nq, step):
            v, nb = None, 0
            for c in range(0, max(n_bits, 1), max(width, 1)):
                ta = torch.from_numpy(_rows(train, lo, lo + rows, c, c + width)).to(device, dtype)
                tb = torch.from_numpy(_rows(query, i, i + step, c, c + width)).to(device, dtype)
                if v is None:  # |a| - 2 a.b: the distance less |b|, which ranks the same
                    v = torch.addmm(ta.sum(1), tb, ta.T, alpha=-2)
                else:
                    v.addmm_(tb, ta.T, alpha=-2).add_(ta.sum(1))
                nb = nb + tb.sum(1, keepdim=True)
                del ta, tb  # free this chunk's floats before the next is unpacked
            j = _smallest(v, m)
            d = (v.gather(1, j) + nb).round().long().cpu()
            j = j.cpu() + lo
            if lo:  # merge with the best of the earlier blocks: they hold the smaller indices
                d, j = torch.cat([dist[i:i + step], d], 1), torch.cat([idx[i:i + step], j], 1)
                order = torch.sort(d * n + j, dim=1).indices[:, :k]
                d, j = d.gather(1, order), j.gather(1, order)
            dist[i:i + step], idx[i:i + step] = d, j
    return dist.numpy(), idx.numpy()


def _n_bits(codes) -> int:
    return codes.n_bits if hasattr(codes, "n_bits") else np.shape(codes)[1]


def _rows(codes, lo: int, hi: int, c0: int = 0, c1: int | None = None) -> np.ndarray:
    """Rows lo:hi, bits c0:c1 (c0 a multiple of 8) as 0/1 uint8, unpacking only those bytes of Codes."""
    if hasattr(codes, "packed"):
        c1 = min(codes.n_bits if c1 is None else c1, codes.n_bits)
        return np.unpackbits(codes.packed[lo:hi, c0 // 8:(c1 + 7) // 8], axis=1, count=c1 - c0)
    return np.asarray(codes[lo:hi, c0:c1], dtype=np.uint8)


def vote(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Uniform majority vote over each row of neighbour labels (Q, k) in 0..n_classes - 1; ties go to the
    smallest label (as sklearn)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (queries, k); got shape {labels.shape}")
    if labels.size == 0:
        return np.zeros(len(labels), dtype=np.int64)
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("vote() counts class indices 0, 1, ...; map other labels first (knn_predict does)")
    n_classes = n_classes or int(labels.max()) + 1
    if labels.max() >= n_classes:
        raise ValueError(f"label {int(labels.max())} is out of range for {n_classes} classes")
    counts = np.zeros((len(labels), n_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(len(labels))[:, None], labels), 1)
    return counts.argmax(1)  # argmax returns the first maximum: the smallest label


def knn_predict(train, y_train, query, k: int = 9, device=None) -> np.ndarray:
    """k-NN labels of query codes by Hamming distance to train codes, uniform vote; any integer labels (negative
    too), ties to the smallest."""
    y_train = np.asarray(y_train)
    if y_train.ndim != 1 or len(y_train) != len(train):
        raise ValueError(f"{len(train)} train codes but labels of shape {y_train.shape}")
    values, index = np.unique(y_train, return_inverse=True)  # sorted: the smallest label keeps the lowest index
    _, idx = hamming_neighbors(train, query, k, device=device)
    return values[vote(index.ravel()[idx], len(values))]


def knn_accuracy(train, y_train, query, y_query, k: int = 9, device=None) -> float:
    """Share of query codes whose k-NN vote (Hamming, fit on train) equals their label."""
    y_train, y_query = np.asarray(y_train), np.asarray(y_query)
    if len(query) == 0 or len(y_query) != len(query):
        raise ValueError(f"k-NN accuracy needs query codes with one label each; got {len(query)} codes and "
                         f"{len(y_query)} labels")
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"k-NN accuracy needs at least two classes in the train labels; all {len(y_train)} "
                         f"have label {y_train[0] if len(y_train) else None}")
    return float((knn_predict(train, y_train, query, k, device) == y_query).mean())


def knn_seconds(n_train: int, n_query: int, bits: int) -> float:
    """What knn_accuracy will take: the Hamming distances' matrix product and about 3 ms of set-up and voting
    (CPU seconds, explorer.estimates.cpu_seconds scales them by the load)."""
    from ..estimates import GEMM_RATE, cpu_seconds

    return cpu_seconds(0.003 + 2 * n_train * n_query * bits / GEMM_RATE)
