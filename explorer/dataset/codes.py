"""Activation codes of a whole dataset, partitioned and streamed to .npy (bit-packed rows), read back as one Codes;
then k-NN (Hamming, explorer.codes) and K-Means (scikit-learn, fitted chunk by chunk) on them."""
from __future__ import annotations

import numpy as np

from ..codes.extract import Codes, activation_codes
from ..codes.knn import knn_accuracy
from ..layers import relu_layers
from .runner import Work, run_partitions
from .saliency import torch_threads
from .source import fingerprint, rows
from .store import load


def codes_part(work: Work, item) -> tuple[dict, dict]:
    """One partition's table (index, label) and its packed codes (n, bytes) uint8."""
    i, lo, hi = item
    x, y, _ = work.rows.take(lo, hi)
    with torch_threads(work.params["threads"]):
        codes = activation_codes(work.model, x, work.params["layers"], work.params["batch_size"])
    label = -np.ones(hi - lo, int) if y is None else y.numpy()
    return {"index": np.arange(lo, hi), "label": label}, {"codes": codes.packed}


def run_codes(model, data, out, engine="sequential", split: str = "test", layers=None, size: int = 1024,
              batch_size: int = 256, threads: int | None = 1, overwrite: bool = False, progress=None,
              n_jobs: int = 1) -> dict:
    """Codes of every input of `data` written to `out` per partition (see run_saliency); read with load_codes."""
    r = rows(data, split)
    layers = relu_layers(model, layers)
    probe = activation_codes(model, r.take(0, 1)[0], layers)  # the bits' layout, and any error, before the run
    spec = {"layers": tuple(layers), "batch_size": batch_size, "threads": threads}
    key = fingerprint("codes", model, r, sorted(spec.items()), size)
    layout = {"n_bits": probe.n_bits, "layers": list(probe.layers), "parts": list(probe.parts),
              "boundaries": [int(b) for b in probe.boundaries]}
    return run_partitions(engine, codes_part, Work(model, r, spec), out, key,
                          {"kind": "codes", "layout": layout, "files": ["table", "codes"]},
                          size, overwrite, progress, n_jobs)


def load_codes(out, partial: bool = False):
    """(table, Codes) of a codes job's folder."""
    from .store import read_manifest

    table, arrays = load(out, partial)
    lay = read_manifest(out)["layout"]
    packed = arrays.get("codes", np.zeros((0, (lay["n_bits"] + 7) // 8), np.uint8))
    return table, Codes(packed, lay["n_bits"], tuple(lay["layers"]), tuple(lay["parts"]), np.array(lay["boundaries"]))


def analyse_codes(codes: Codes, labels, k: int = 9, n_clusters: int = 10, seed: int = 0, query_every: int = 10,
                  chunk: int = 4096) -> dict:
    """{'knn_accuracy': k-NN (Hamming) of every query_every-th input on the others, 'clusters': (N,) K-Means labels}.
    K-Means is scikit-learn's MiniBatchKMeans fitted on chunks of `chunk` unpacked rows in order (memory: one chunk),
    seeded: the same codes and seed give the same clusters."""
    from sklearn.cluster import MiniBatchKMeans

    labels = np.asarray(labels)
    n = len(codes)
    if len(labels) != n:
        raise ValueError(f"{n} codes but {len(labels)} labels")
    query = np.arange(n) % query_every == 0
    train = Codes(codes.packed[~query], codes.n_bits, codes.layers, codes.parts, codes.boundaries)
    test = Codes(codes.packed[query], codes.n_bits, codes.layers, codes.parts, codes.boundaries)
    acc = knn_accuracy(train, labels[~query], test, labels[query], k)
    km = MiniBatchKMeans(n_clusters, random_state=seed, batch_size=min(chunk, n), n_init=3)
    chunk = max(chunk, n_clusters)

    def rows_of(lo):
        return np.unpackbits(codes.packed[lo:lo + chunk], axis=1, count=codes.n_bits).astype(np.float32)
    for lo in range(0, n, chunk):
        km.partial_fit(rows_of(lo))
    clusters = np.concatenate([km.predict(rows_of(lo)) for lo in range(0, n, chunk)])
    return {"knn_accuracy": acc, "clusters": clusters, "centres": km.cluster_centers_}
