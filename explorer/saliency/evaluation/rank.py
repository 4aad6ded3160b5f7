"""rank_methods: one table comparing saliency methods on the session's current model."""
from __future__ import annotations

import numbers
import time

import torch

from ..methods.explainer import Explainer, make_method
from ..methods.registry import METHODS
from ..methods.scoring import as_classes
from ..methods.targets import ClassifierOutputSoftmaxTarget
from ..methods.util import ClassesOnly
from .metrics import class_sensitivity, deletion_insertion, energy, pointing_game


def maps_in_batches(explainer: Explainer, x: torch.Tensor, targets, batch_size: int = 64) -> torch.Tensor:
    """Maps (N, H, W) on the CPU, computed batch by batch (targets: a string, a target object, or one per image)."""
    out = []
    for i in range(0, len(x), batch_size):
        t = targets if isinstance(targets, str) or not isinstance(targets, (list, tuple, torch.Tensor)) else \
            targets[i:i + batch_size]
        out.append(explainer(x[i:i + batch_size], t).cpu())
    return torch.cat(out)


def rank_methods(session, methods=None, n: int = 64, split: str = "test", layers=None, steps: int = 10,
                 baseline="blur", progress=None, seed: int = 0, targets=None) -> list[dict]:
    """Rank methods on n images of a split (data.sample(split, n, seed): stratified by class, all of the split for
    n >= its size): deletion/insertion AUCs (for the predicted class), class sensitivity, and, where the data has
    ground-truth masks, pointing game and energy. Best (insertion - deletion) first; each row is a dict with 'rank'
    and 'method'.

    targets: None for the predicted classes (or the session's own Target object); a target object (a Target, one
    per image of the sample, or a callable; targets.py) makes the curves track its score, leaves out class
    sensitivity unless its targets are a classifier's classes, and skips the methods that explain class indices
    only."""
    methods = list(METHODS) if methods is None else list(methods)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (images to rank on); got {n!r}")
    if not methods:
        raise ValueError("no methods to rank")
    if targets is None and session.target is not None:
        if isinstance(session.target, str):
            raise ValueError(f"a {session.target!r} session ranks for a target: pass targets= (a Target object, or "
                             f"explorer.saliency.kinds.batch_targets(...))")
        targets = session.target
    targets = as_classes(targets)  # class logit targets: the classes they mean
    x, _, idx = session.data.sample(split, n, seed)
    x = x.to(session.device)
    masks = session.data.masks.get(split)
    rows = []
    for i, name in enumerate(methods):
        cls = METHODS.get(name)
        method = make_method(name, layers if cls is not None and cls.needs_layer else None)
        ex = Explainer(session.model, method)
        start = time.perf_counter()
        try:
            maps = maps_in_batches(ex, x, "predicted" if targets is None else targets)
        except ClassesOnly:
            if targets is None:
                raise
            maps = None  # explains class indices only: nothing to rank for a target (the panel names it)
        if maps is not None:
            rows.append(_row(session, name, ex, x, maps, targets, idx, masks, time.perf_counter() - start, split,
                             steps, baseline))
        ex.clear()
        if progress is not None:
            progress(i + 1, len(methods), {"method": name})
    if not rows:
        raise ClassesOnly(f"none of {', '.join(methods)} can explain a target object (they explain class indices "
                          f"only): compare gradient CAMs or input-gradient methods")
    rows.sort(key=lambda r: r["deletion_auc"] - r["insertion_auc"])
    for r, row in enumerate(rows, 1):
        row["rank"] = r
    return rows


def _row(session, name, ex, x, maps, targets, idx, masks, seconds, split, steps, baseline) -> dict:
    """One method's row: the curves' AUCs for the targets (the predicted classes for None), class sensitivity for
    a classifier, pointing and energy where the data has masks."""
    t = session.evaluate(split).predictions[idx] if targets is None else targets
    curves = deletion_insertion(session.model, x, maps, t, steps=steps, baseline=baseline)
    row = {"method": name, "deletion_auc": float(curves["deletion_auc"].mean()),
           "insertion_auc": float(curves["insertion_auc"].mean())}
    if _classes(targets):  # class sensitivity: maps of the top and the bottom class of a classifier
        row["sensitivity"] = float(class_sensitivity(ex, x[:min(len(x), 64)]).mean())
    row["seconds"] = seconds
    if masks is not None:
        row["pointing"] = float(pointing_game(maps, masks[idx]).float().mean())
        row["energy"] = float(energy(maps, masks[idx]).mean())
    return row


def _classes(targets) -> bool:
    """Whether the targets are a classifier's classes (indices, or class probability targets): only then
    has class sensitivity (maps of the top and the bottom class) a meaning."""
    one = ClassifierOutputSoftmaxTarget
    return targets is None or isinstance(targets, (int, torch.Tensor, one)) or (
        isinstance(targets, (list, tuple)) and all(isinstance(t, one) for t in targets))
