"""One table of trust metrics per method (faithfulness, robustness, simplicity, class dependence) for the panel."""
from __future__ import annotations

import torch

from ...capture import eval_mode
from ...device import model_device
from ..methods.attribution import Attribution
from ..methods.explainer import named_methods
from ..methods.util import check_input, resolve_targets, run_model
from .faithfulness import complexity, faithfulness_correlation, max_sensitivity, random_logit, sparseness


def trust_metrics(model, x, methods, targets="predicted", labels=None, runs: int = 100, subset: int | None = None,
                  samples: int = 20, radius: float = 0.2, seed: int = 0, progress=None) -> list[dict]:
    """Rows {'method', 'faithfulness', 'max_sensitivity', 'sparseness', 'complexity', 'random_logit'}: means over
    the images, one row per method (names, instances or a {name: method} dict), in the form metric_agreement reads.
    targets: class indices, or a target object (targets.py) whose score faithfulness tracks; random-logit, which
    needs other classes, is left out for a target object.

    Attribution methods are scored on their signed attributions, others on their maps; subset=None perturbs a
    quarter of the features per run (at most Quantus's 224). progress(done, total, {'method': name}).
    """
    x = check_input(x).to(model_device(model))
    methods = named_methods(methods)
    with torch.no_grad(), eval_mode(model):
        t = resolve_targets(targets, run_model(model, x, any_output=True), labels, objects=True)
    classes = isinstance(t, torch.Tensor)  # random-logit needs a classifier's other classes: none for a target
    size = subset if subset is not None else max(1, min(224, x[0].numel() // 4))
    rows = []
    for i, (name, m) in enumerate(methods.items()):
        a = m.attributions(model, x, t) if isinstance(m, Attribution) else m(model, x, t)
        rows.append({"method": name,
                     "faithfulness": float(faithfulness_correlation(model, x, a, t, runs=runs, subset=size,
                                                                    seed=seed).nanmean()),
                     "max_sensitivity": float(max_sensitivity(model, x, m, t, samples=samples, radius=radius,
                                                              seed=seed).mean()),
                     "sparseness": float(sparseness(a).mean()), "complexity": float(complexity(a).mean())})
        if classes:
            rows[-1]["random_logit"] = float(random_logit(model, x, m, t, seed=seed).mean())
        if progress is not None:
            progress(i + 1, len(methods), {"method": name})
    return rows
