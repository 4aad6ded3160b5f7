"""Estimates of the saliency lab's jobs (explorer.estimates): maps per method, ranking, sanity, DiffROAR."""
from __future__ import annotations

import math

from ..estimates import activation_bytes, per_input, training
from ..jobs import Estimate


def map_passes(method, hw: tuple | None = None) -> int:
    """Passes one map of a method takes: its samples or steps, one per occlusion window of an hw image, else 1
    (a gradient method; Score-CAM's and Ablation-CAM's one per channel are not counted)."""
    if hasattr(method, "sizes") and hw is not None:
        k, s = method.sizes(*hw)
        return max(1, (math.ceil((hw[0] - k) / s) + 1) * (math.ceil((hw[1] - k) / s) + 1))
    for knob in ("samples", "steps", "n_samples"):
        if isinstance(getattr(method, knob, None), int):
            return max(1, getattr(method, knob))
    return 1


def _maps(session, methods, n: int, layers, per_map: float = 1.0, forwards_per_image: int = 0, what: str = "",
          fixed: float = 0.0):
    """Maps of n test images by each configured method per_map times, forwards_per_image forwards per method, and
    `fixed` seconds of set-up (explainers, copies of the model)."""
    from .methods.explainer import make_method
    from .methods.registry import METHODS

    x = session.data.inputs("test")[:n]  # a bad name: make_method's clear error, as the job would give
    chosen = [make_method(m, layers if getattr(METHODS.get(m), "needs_layer", False) else None) for m in methods]
    g, f = per_input(session.model, x, 64, grad=True), per_input(session.model, x, 64)
    passes = sum(map_passes(m, tuple(session.data.shape[1:])) for m in chosen)
    sec = n * (g * passes * per_map + f * forwards_per_image * len(chosen)) + fixed
    return Estimate(sec, 64 * 3 * activation_bytes(session.model, x) * max(1, passes), what)


def ranking(session, methods, n: int, layers=None, steps: int = 10) -> Estimate:
    """rank_methods: per method, its maps (and a second class's), and the deletion and insertion curves."""
    return _maps(session, methods, n, layers, 2, 2 * (steps + 1), f"{len(methods)} methods on {n} images",
                 0.06 * len(methods))  # an explainer and the split's predictions per method


def sanity(session, methods, n: int, layers=None) -> Estimate:
    """model_randomization: every method's maps on the model and on one copy per re-initialised layer."""
    count = 1 + sum(1 for m in session.model.modules() if hasattr(m, "reset_parameters") and not list(m.children()))
    return _maps(session, methods, n, layers, count, 0, f"{len(methods)} methods x {count} models on {n} images",
                 0.02 * count)  # a copy of the model re-initialised per layer


def trust(session, methods, n: int, layers=None, runs: int = 100, samples: int = 20) -> Estimate:
    """trust_metrics: per image and method, `runs` perturbed forwards and about samples + 2 maps."""
    return _maps(session, methods, n, layers, samples + 2, runs, f"{len(methods)} methods on {n} images")


def diff_roar(session, method, epochs: int) -> Estimate:
    """DiffROAR: the method's maps of both splits, then two trainings of the architecture."""
    data = session.data
    x = data.inputs("train")
    n = sum(len(data.inputs(s)) for s in ("train", "test"))
    maps = Estimate(per_input(session.model, x, 256, grad=True) * map_passes(method, tuple(data.shape[1:])) * n,
                    n * data.images("train")[0].numel() * 8, f"maps of {n:,} images")
    two = training(session.model, data, epochs)
    return maps + Estimate(2 * two.seconds, two.bytes, f"2 x {two.what}")
