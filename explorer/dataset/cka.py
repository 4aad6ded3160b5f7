"""CKA of every layer pair over a whole dataset: each partition's tasks return the HSIC terms of their minibatches
(Nguyen et al. 2021, explorer.geometry.minibatch), which add up across partitions in the order minibatch_cka adds."""
from __future__ import annotations

import numpy as np
import torch

from ..geometry.cka import CKAMatrix
from ..geometry.features import stages
from ..geometry.minibatch import batch_grams, hsic_pairs
from .runner import Work, run_partitions
from .saliency import torch_threads
from .source import fingerprint, rows
from .store import load, read_manifest


def cka_part(work: Work, item) -> tuple[dict, dict]:
    """One partition's HSIC of every layer pair per whole minibatch, (batches, L, L) float64 (a short last batch of
    the dataset is dropped, as minibatch_cka drops it)."""
    i, lo, hi = item
    p = work.params
    x, _, _ = work.rows.take(lo, hi)
    b = p["batch"]
    with torch_threads(p["threads"]):
        terms = [hsic_pairs(g, g, p["debiased"]) for g in
                 (batch_grams(work.model, x[s:s + b], p["layers"]) for s in range(0, len(x) - b + 1, b))]
    hsic = torch.stack(terms).cpu().numpy() if terms else np.zeros((0, len(p["layers"]), len(p["layers"])))
    return {"partition": [i], "batches": [len(terms)]}, {"hsic": hsic}


def run_cka(model, data, out, engine="sequential", split: str = "test", layers=None, batch: int = 256,
            size: int = 2048, debiased: bool = True, threads: int | None = 1, overwrite: bool = False,
            progress=None, n_jobs: int = 1) -> dict:
    """HSIC terms of every layer pair over every input of `data`, `size` inputs (a multiple of `batch`) per task,
    written to `out`; read the CKA matrix with load_cka(out)."""
    r = rows(data, split)
    if batch < 4 or size % batch:
        raise ValueError(f"the partition size ({size}) must be a multiple of the minibatch ({batch}, at least 4): "
                         f"each minibatch lies in one partition")
    if len(r) < batch:
        raise ValueError(f"{len(r)} inputs make no minibatch of {batch}")
    layers = stages(model, r.take(0, 1)[0]) if layers is None else ([layers] if isinstance(layers, str)
                                                                     else list(layers))
    spec = {"layers": layers, "batch": batch, "debiased": debiased, "threads": threads}
    key = fingerprint("cka", model, r, sorted(spec.items()), size)
    return run_partitions(engine, cka_part, Work(model, r, spec), out, key,
                          {"kind": "cka", "layers": layers, "debiased": debiased, "files": ["table", "hsic"]},
                          size, overwrite, progress, n_jobs)


def load_cka(out) -> CKAMatrix:
    """The CKA matrix of a finished CKA job: its minibatches' HSIC summed in order, as minibatch_cka sums them."""
    _, arrays = load(out)
    m = read_manifest(out)
    terms = torch.from_numpy(arrays["hsic"])
    xy = terms[0]
    for t in terms[1:]:
        xy = xy + t
    xx = xy.diagonal()
    den = torch.sqrt(torch.outer(xx, xx))
    vals = torch.where(den > 0, xy / den, torch.full_like(xy, float("nan")))
    return CKAMatrix(vals.numpy(), tuple(m["layers"]), tuple(m["layers"]), m["debiased"])
