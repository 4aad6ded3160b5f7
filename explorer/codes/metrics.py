"""Determinism and categorization of codes (He et al. 2021): redundancy, k-NN, K-Means, logistic regression."""
from __future__ import annotations

import warnings

import numpy as np

from .knn import knn_accuracy


def _rows(codes) -> np.ndarray:
    """Packed rows (N, bytes) uint8 from Codes or a 0/1 array."""
    return codes.packed if hasattr(codes, "packed") else np.packbits(np.asarray(codes, dtype=np.uint8), axis=1)


def redundancy(codes) -> dict:
    """Uniqueness of codes: the paper's redundancy ratio (N - unique) / N and the share of inputs sharing a code."""
    return _uniqueness(np.ascontiguousarray(_rows(codes)))


def _uniqueness(rows: np.ndarray) -> dict:
    """redundancy() of packed rows (N, bytes)."""
    n = len(rows)
    if n == 0:
        raise ValueError("no codes")
    _, inverse, counts = np.unique(rows.view(np.dtype((np.void, rows.shape[1]))).ravel(),
                                   return_inverse=True, return_counts=True)
    return {"n": n, "unique codes": len(counts),
            "redundancy ratio": (n - len(counts)) / n,  # the paper's measure: 0 = every input has its own code
            "share sharing a code": float((counts[inverse.ravel()] > 1).mean())}  # codes that are not theirs alone


def determinism(codes_by_split: dict) -> list[dict]:
    """redundancy() for the whole network and for each layer call, per split: rows of a table."""
    rows = []
    for split, codes in codes_by_split.items():
        whole = "all layers" if len(codes.parts) > 1 else (codes.parts[0] if codes.parts else "code")
        parts = [(whole, codes)] + ([(p, codes.layer(p)) for p in codes.parts] if len(codes.parts) > 1 else [])
        for name, c in parts:
            rows.append({"split": split, "layer": name, "bits": c.n_bits, **redundancy(c)})
    return rows


def _check_labels(y, n_min: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if len(y) < max(n_min, 1):
        raise ValueError(f"{what} needs at least {n_min} samples; got {len(y)}")
    if len(np.unique(y)) < 2:
        raise ValueError(f"{what} needs at least two classes; all {len(y)} samples have label {y[0]}")
    return y


def purity(clusters, y) -> float:
    """Cluster purity, the paper's 'K-Means accuracy': each cluster votes for its majority label."""
    table = _contingency(clusters, y)
    return float(table.max(axis=1).sum() / len(np.asarray(y)))


def hungarian_accuracy(clusters, y) -> float:
    """Accuracy under the best one-to-one matching of clusters to labels (scipy linear_sum_assignment)."""
    from scipy.optimize import linear_sum_assignment

    table = _contingency(clusters, y)
    r, c = linear_sum_assignment(table, maximize=True)
    return float(table[r, c].sum() / len(np.asarray(y)))


def _contingency(clusters, y) -> np.ndarray:
    """(clusters x labels) counts."""
    if len(np.asarray(y)) == 0 or len(np.asarray(clusters)) != len(np.asarray(y)):
        raise ValueError(f"need one cluster per label and at least one; got {len(np.asarray(clusters))} clusters "
                         f"and {len(np.asarray(y))} labels")
    _, ci = np.unique(np.asarray(clusters), return_inverse=True)
    _, yi = np.unique(np.asarray(y), return_inverse=True)
    table = np.zeros((ci.max() + 1, yi.max() + 1), dtype=np.int64)
    np.add.at(table, (ci.ravel(), yi.ravel()), 1)
    return table


def kmeans_labels(x, n_clusters: int = 10, seed: int = 9) -> np.ndarray:
    """Cluster index of each row of x: K-Means with n_init=10 and random_state=seed, as the paper."""
    from sklearn.cluster import KMeans

    if len(x) < n_clusters:
        raise ValueError(f"K-Means with {n_clusters} clusters needs at least {n_clusters} samples; got {len(x)}")
    return KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(np.asarray(x, dtype=np.float32))


def kmeans_scores(x, y, n_clusters: int = 10, seed: int = 9) -> dict:
    """K-Means (n_init=10, random_state=seed as the paper) on features x: purity and Hungarian accuracy."""
    y = _check_labels(y, n_clusters, f"K-Means with {n_clusters} clusters")
    labels = kmeans_labels(x, n_clusters, seed)
    return {"purity": purity(labels, y), "hungarian": hungarian_accuracy(labels, y)}


def logistic_accuracy(x_train, y_train, x_test, y_test, seed: int = 9, max_iter: int = 1000) -> float:
    """One-vs-one logistic regression (the paper's, with max_iter 1000 instead of 100) fit on train, test accuracy."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsOneClassifier

    _check_labels(y_train, 2, "logistic regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # expected on separable codes; the score is what counts
        clf = OneVsOneClassifier(LogisticRegression(random_state=seed, max_iter=max_iter))
        clf.fit(np.asarray(x_train, dtype=np.float32), y_train)
    return float(clf.score(np.asarray(x_test, dtype=np.float32), y_test))


def euclidean_knn_accuracy(x_train, y_train, x_test, y_test, k: int = 9) -> float:
    """k-NN (Euclidean, uniform vote) test accuracy on continuous features: the baselines' k-NN."""
    from sklearn.neighbors import KNeighborsClassifier

    _check_labels(y_train, k, f"{k}-NN")
    return float(KNeighborsClassifier(k).fit(x_train, y_train).score(x_test, y_test))


def categorization(features: dict, y_train, y_test, k: int = 9, n_clusters: int = 10, seed: int = 9,
                   device=None, progress=None) -> list[dict]:
    """k-NN, logistic regression and K-Means (train and test) for each feature set {name: (train, test)}.

    Codes (objects with .bits()) use Hamming k-NN; arrays (pixels, activations) use Euclidean k-NN.
    progress(done, total, {"features": name}) after each feature set.
    """
    y_train, y_test = _check_labels(y_train, k, f"{k}-NN"), _check_labels(y_test, 1, "the test split")
    rows = []
    for name, (tr, te) in features.items():
        binary = hasattr(tr, "bits")
        xtr, xte = (tr.bits(), te.bits()) if binary else (np.asarray(tr).reshape(len(tr), -1),
                                                            np.asarray(te).reshape(len(te), -1))
        knn = (knn_accuracy(tr, y_train, te, y_test, k, device) if binary
               else euclidean_knn_accuracy(xtr, y_train, xte, y_test, k))
        km_tr, km_te = kmeans_scores(xtr, y_train, n_clusters, seed), kmeans_scores(xte, y_test, n_clusters, seed)
        rows.append({"features": name, "dims": xtr.shape[1], f"{k}-NN": knn,
                     "logistic regression": logistic_accuracy(xtr, y_train, xte, y_test, seed),
                     "K-Means purity train": km_tr["purity"], "K-Means purity test": km_te["purity"],
                     "K-Means Hungarian train": km_tr["hungarian"], "K-Means Hungarian test": km_te["hungarian"]})
        if progress is not None:
            progress(len(rows), len(features), {"features": name})
    return rows


def selection_summary(codes, idx, labels=None, n_classes: int | None = None, n_ref: int = 200,
                      chunk_bytes: int = 1 << 26) -> dict:
    """Statistics of the codes of a selection idx (e.g. a lasso on the map): unique codes, redundancy ratio,
    share of bits on, mean Hamming distance of each selected code to the first n_ref selected, label counts.

    Exact and memory-bounded: rows are unpacked chunk_bytes at a time, and the mean distance uses
    d(a, b) = |a| + |b| - 2 a.b (the GEMM of knn.py) summed over both sets, which needs only integer column sums:
    mean d = mean|a| + mean|b| - 2 (sum_i a_i).(sum_j b_j) / (n m). Equal to the boolean formula
    (bits[:, None] != bits[None, :n_ref]).sum(-1).mean() with O(bits) memory instead of O(n * n_ref * bits).
    """
    idx = np.asarray(idx, dtype=np.int64).ravel()
    if len(idx) == 0:
        raise ValueError("no codes selected")
    n_bits = codes.n_bits if hasattr(codes, "n_bits") else np.shape(codes)[1]
    rows = np.ascontiguousarray(codes.packed[idx] if hasattr(codes, "packed")
                                else np.packbits(np.asarray(codes)[idx].astype(np.uint8, copy=False), axis=1))
    n, m = len(rows), min(n_ref, len(rows))
    step = max(1, chunk_bytes // max(n_bits, 1))  # rows unpacked at a time (uint8, then int64 column sums)
    ones = np.zeros(n, dtype=np.int64)
    col_all, col_ref = np.zeros(n_bits, dtype=np.int64), np.zeros(n_bits, dtype=np.int64)
    for lo in range(0, n, step):
        b = np.unpackbits(rows[lo:lo + step], axis=1, count=n_bits)
        ones[lo:lo + len(b)] = b.sum(1, dtype=np.int64)
        col_all += b.sum(0, dtype=np.int64)
        if lo < m:
            col_ref += b[:m - lo].sum(0, dtype=np.int64)
    cross = int(col_all @ col_ref)  # sum over pairs of a.b, exact in int64 (n * m * bits < 2^63)
    total = m * int(ones.sum()) + n * int(ones[:m].sum()) - 2 * cross  # sum of d over the n x m pairs
    out = {"n": n, **{k: v for k, v in _uniqueness(rows).items() if k != "n"},
           "share of bits on": float(ones.sum() / (n * n_bits)) if n_bits else 0.0,
           "mean Hamming distance": total / (n * m) if n > 1 else 0.0, "bits": n_bits}
    if labels is not None:
        y = np.asarray(labels)[idx]
        out["label counts"] = np.bincount(y, minlength=n_classes or 0)
    return out
