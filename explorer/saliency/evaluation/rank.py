"""rank_methods: one table comparing saliency methods on the session's current model."""
from __future__ import annotations

import numbers
import time

import torch

from ..methods.explainer import Explainer, make_method
from ..methods.registry import METHODS
from .metrics import class_sensitivity, deletion_insertion, energy, pointing_game


def maps_in_batches(explainer: Explainer, x: torch.Tensor, targets, batch_size: int = 64) -> torch.Tensor:
    """Maps (N, H, W) on the CPU, computed batch by batch (targets: a string or one per image)."""
    out = []
    for i in range(0, len(x), batch_size):
        t = targets if isinstance(targets, str) else targets[i:i + batch_size]
        out.append(explainer(x[i:i + batch_size], t).cpu())
    return torch.cat(out)


def rank_methods(session, methods=None, n: int = 64, split: str = "test", layers=None, steps: int = 10,
                 baseline="blur", progress=None, seed: int = 0) -> list[dict]:
    """Rank methods on n images of a split (data.sample(split, n, seed): stratified by class, all of the split for
    n >= its size): deletion/insertion AUCs (for the predicted class), class sensitivity, and, where the data has
    ground-truth masks, pointing game and energy. Best (insertion - deletion) first; each row is a dict with 'rank'
    and 'method'."""
    methods = list(METHODS) if methods is None else list(methods)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (images to rank on); got {n!r}")
    if not methods:
        raise ValueError("no methods to rank")
    x, _, idx = session.data.sample(split, n, seed)
    x = x.to(session.device)
    masks = session.data.masks.get(split)
    rows = []
    for i, name in enumerate(methods):
        cls = METHODS.get(name)
        method = make_method(name, layers if cls is not None and cls.needs_layer else None)
        ex = Explainer(session.model, method)
        start = time.perf_counter()
        maps = maps_in_batches(ex, x, "predicted")
        seconds = time.perf_counter() - start
        pred = session.evaluate(split).predictions[idx]
        curves = deletion_insertion(session.model, x, maps, pred, steps=steps, baseline=baseline)
        row = {"method": name, "deletion_auc": float(curves["deletion_auc"].mean()),
               "insertion_auc": float(curves["insertion_auc"].mean()),
               "sensitivity": float(class_sensitivity(ex, x[:min(n, 64)]).mean()), "seconds": seconds}
        if masks is not None:
            row["pointing"] = float(pointing_game(maps, masks[idx]).float().mean())
            row["energy"] = float(energy(maps, masks[idx]).mean())
        rows.append(row)
        ex.clear()
        if progress is not None:
            progress(i + 1, len(methods), {"method": name})
    rows.sort(key=lambda r: r["deletion_auc"] - r["insertion_auc"])
    for r, row in enumerate(rows, 1):
        row["rank"] = r
    return rows
