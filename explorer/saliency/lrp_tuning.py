"""LRP tuned and scored live: one job gives the map of the chosen image and the faithfulness of the chosen rules on a
small sample (deletion AUC, faithfulness correlation), so a rule change shows what it does to both."""
from __future__ import annotations

import torch

from ..capture import eval_mode
from ..device import model_device
from ..jobs import Job, key, private_copy
from .evaluation.faithfulness import faithfulness_correlation
from .evaluation.metrics import deletion_insertion
from .methods.lrp import LRP
from .methods.util import normalize


def lrp_score(model, x, target: int, sample, params: dict, steps: int = 10, runs: int = 50, seed: int = 0,
              progress=None) -> dict:
    """{'map': (H, W) in [0, 1] of x (1, C, H, W) for target, 'deletion_auc' and 'insertion_auc' (means over the
    sample's predicted classes), 'faithfulness' (Bhatt et al. 2020: mean Pearson over runs), 'notes'}."""
    method = LRP(**params)
    method.warns = False
    a = method.attributions(model, x, [target])
    out = {"map": normalize(torch.relu(method.reduce(a)))[0].cpu().numpy()}
    if progress is not None:
        progress(1, 3, {})
    sample = sample.to(model_device(model))
    with torch.no_grad(), eval_mode(model):
        t = model(sample).argmax(1)
    attr = method.attributions(model, sample, t)
    curves = deletion_insertion(model, sample, method.reduce(attr), t, steps=steps)
    if progress is not None:
        progress(2, 3, {})
    size = max(1, min(224, sample[0].numel() // 4))  # as the trust view: a quarter of the features per run
    fc = faithfulness_correlation(model, sample, attr, t, runs=runs, subset=size, seed=seed)
    return {**out, "deletion_auc": float(curves["deletion_auc"].mean()),
            "insertion_auc": float(curves["insertion_auc"].mean()), "faithfulness": float(fc.nanmean()),
            "notes": tuple(method.notes_)}


def lrp_score_job(session, params: dict, split: str, index: int, target: int, n: int = 8, seed: int = 0) -> Job:
    """lrp_score() on a copy of the model: image `index` of split, the score on data.sample(split, n, seed)."""
    x = session.data.inputs(split)[index:index + 1]
    sample = session.data.sample(split, n, seed)[0]
    return Job(key("lrp-score", params, split, int(index), int(target), n, seed), lambda: private_copy(session.model),
               lambda model, progress: lrp_score(model, x, int(target), sample, params, seed=seed, progress=progress),
               "LRP and its faithfulness")
