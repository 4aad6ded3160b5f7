"""Saliency over a whole dataset: per image its map (optional .npy), deletion and insertion AUC, sparseness and
complexity of the map, and where the data has masks of known evidence the pointing game and energy; partitioned."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..capture import eval_mode
from ..saliency.evaluation import complexity, deletion_insertion, energy, pointing_game, sparseness
from ..saliency.methods import make_method
from ..saliency.methods.util import run_model
from .runner import Work, run_partitions
from .source import fingerprint, rows

TARGETS = ("predicted", "true")


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch's intra-op threads set to n inside (None: as they are): one thread gives the same arithmetic in the
    kernel and on every worker, so the results are equal bit for bit on every engine."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def saliency_part(work: Work, item) -> tuple[dict, dict]:
    """One partition's table (index, label, prediction, target, metrics) and its maps (n, H, W) float32."""
    i, lo, hi = item
    p = work.params
    x, y, masks = work.rows.take(lo, hi)
    model = work.model
    with torch_threads(p["threads"]):
        with torch.no_grad(), eval_mode(model):
            pred = run_model(model, x).argmax(1)
        t = pred if p["targets"] == "predicted" else y
        maps = make_method(p["method"], p["layer"], **p["params"])(model, x, t).detach().cpu()
        curves = deletion_insertion(model, x, maps, t, steps=p["steps"], baseline=p["baseline"],
                                    batch_size=p["curve_batch"])
        table = {"index": np.arange(lo, hi), "label": (-np.ones(hi - lo, int) if y is None else y.numpy()),
                 "prediction": pred.numpy(), "target": t.cpu().numpy(),
                 "deletion_auc": curves["deletion_auc"].numpy(), "insertion_auc": curves["insertion_auc"].numpy(),
                 # one image at a time: both normalise by a batch's maximum, which a partition must not change
                 "sparseness": torch.cat([sparseness(m[None]) for m in maps]).numpy(),
                 "complexity": torch.cat([complexity(m[None]) for m in maps]).numpy()}
        if masks is not None:
            table["pointing"] = pointing_game(maps, masks).numpy()
            table["energy"] = energy(maps, masks).numpy()
    return table, ({"maps": maps.numpy().astype(np.float32)} if p["keep_maps"] else {})


def saliency_spec(method: str = "Grad-CAM", layer=None, targets: str = "predicted", steps: int = 20,
                  baseline="blur", keep_maps: bool = True, threads: int | None = 1, curve_batch: int = 128,
                  **params) -> dict:
    """The task's settings, checked here (before anything is sent to a worker). curve_batch: images per forward of
    the deletion/insertion curves; 128 keeps a small CNN's activations on MNIST (12.8 MB) under the 32 MB up to
    which malloc reuses freed memory (512: 51 MB, a fresh mmap and 12,500 page faults per forward)."""
    make_method(method, layer, **params)  # an unknown method or a layer it does not take: the registry's error
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS} (a class per image is fixed by the data); got {targets!r}")
    if isinstance(baseline, str) and baseline != "blur":
        raise ValueError(f"baseline must be 'blur' or a number (the batch 'mean' would depend on the partition); "
                         f"got {baseline!r}")
    if isinstance(curve_batch, bool) or not isinstance(curve_batch, int) or curve_batch < 1:
        raise ValueError(f"curve_batch must be an integer >= 1; got {curve_batch!r}")
    return {"method": method, "layer": layer, "targets": targets, "steps": steps, "baseline": baseline,
            "keep_maps": keep_maps, "threads": threads, "curve_batch": curve_batch, "params": params}


def run_saliency(model, data, out, engine="sequential", split: str = "test", size: int = 256,
                 overwrite: bool = False, progress=None, n_jobs: int = 1, **settings) -> dict:
    """Maps and metrics of every image of `data` (see source.rows) written to the folder `out`, one partition of
    `size` images per task on `engine`; returns run_partitions' counts. Read it back with store.load(out)."""
    spec = saliency_spec(**settings)
    r = rows(data, split)
    if spec["targets"] == "true" and r.y is None and r.dataset is None:
        raise ValueError("targets='true' needs labels: pass an ImageSet or labeled data")
    key = fingerprint("saliency", model, r, sorted(spec.items(), key=str), size)
    files = ["table", "maps"] if spec["keep_maps"] else ["table"]
    return run_partitions(engine, saliency_part, Work(model, r, spec), out, key,
                          {"kind": "saliency", "spec": {k: repr(v) for k, v in spec.items()}, "files": files},
                          size, overwrite, progress, n_jobs)
