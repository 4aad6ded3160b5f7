"""Linear mode connectivity: loss and error along (1 - a) theta_A + a theta_B, and the barrier heights."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..device import model_device
from . import functional as fn
from .directions import check_same_architecture


@dataclass
class Path:
    """Loss and accuracy at each alpha along the line from A (alpha 0) to B (alpha 1)."""

    alphas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray

    def barriers(self) -> dict[str, float]:
        """Frankle and Entezari barriers for loss and for error (1 - accuracy), over alpha in [0, 1]."""
        return {**{f"{k}_loss": v for k, v in barriers(self.alphas, self.loss).items()},
                **{f"{k}_error": v for k, v in barriers(self.alphas, 1 - self.accuracy).items()}}


def barriers(alphas, values) -> dict[str, float]:
    """frankle = max f - (f(0) + f(1)) / 2 (Frankle et al. 2020); entezari = max [f - chord] (Entezari et al. 2022).

    Only alphas in [0, 1] count; both endpoints must be on the path.
    """
    a, v = np.asarray(alphas, float), np.asarray(values, float)
    i0, i1 = np.flatnonzero(a == 0), np.flatnonzero(a == 1)
    if not len(i0) or not len(i1):
        raise ValueError("the path must contain alpha = 0 and alpha = 1 to measure a barrier")
    inside = (a >= 0) & (a <= 1)
    f0, f1 = v[i0[0]], v[i1[0]]
    chord = f0 + a * (f1 - f0)  # exactly flat when f0 == f1
    return {"frankle": float(np.max(v[inside]) - (f0 + f1) / 2), "entezari": float(np.max((v - chord)[inside]))}


def _state(model_or_state, device) -> dict[str, torch.Tensor]:
    src = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    return {k: v.detach().to(device) for k, v in src.items()}


def interpolate(model: nn.Module, a, b, x: torch.Tensor, y: torch.Tensor, n: int = 25, alphas=None,
                bn_x: torch.Tensor | None = None, layers=None, callback=None) -> Path:
    """Loss and accuracy of `model`'s architecture at (1 - alpha) A + alpha B; a, b: models or state dicts.

    n evenly spaced alphas in [0, 1] (or the given alphas; endpoints exact by torch.lerp). Buffers are interpolated
    too, unless bn_x (a train batch) is given: then BatchNorm statistics are recomputed at every alpha.
    layers: interpolate only these layers' parameters (the rest stay at A). The model itself is never changed.
    """
    check_same_architecture(model, a)
    check_same_architecture(model, b)
    if alphas is None and n < 2:
        raise ValueError(f"need at least 2 points along the path; got n={n}")
    alphas = np.linspace(0.0, 1.0, n) if alphas is None else np.asarray(alphas, float)
    if alphas.ndim != 1 or len(alphas) == 0 or not np.isfinite(alphas).all():
        raise ValueError(f"alphas must be a non-empty 1-D list of finite numbers; got {alphas!r}")
    device = model_device(model)
    sa, sb = _state(a, device), _state(b, device)
    names = set(fn.base_params(model))
    moving = names if not layers else _select(names, [layers] if isinstance(layers, str) else layers)
    bufs = set(fn.base_buffers(model))
    owners = {k.rsplit(".", 1)[0] for k in moving}
    x, y = x.to(device), y.to(device)
    loss, acc = [], []
    for i, t in enumerate(alphas):
        params = {k: torch.lerp(sa[k], sb[k], float(t)) if k in moving else sa[k] for k in names}
        buffers = {k: torch.lerp(sa[k], sb[k], float(t)) if sa[k].is_floating_point() and
                   k.rsplit(".", 1)[0] in owners else sa[k] for k in bufs}  # running statistics move with their layer
        if bn_x is not None:
            buffers = fn.recompute_bn(model, params, buffers, bn_x.to(device))
        ls, ac = fn.metrics(model, params, buffers, x, y)
        loss.append(ls)
        acc.append(ac)
        if callback is not None:
            callback(i + 1, len(alphas), None)
    return Path(alphas, np.array(loss), np.array(acc))


def _select(names: set, layers) -> set:
    chosen = {n for n in names if any(n == p or n.startswith(p + ".") for p in layers)}
    if not chosen:
        valid = sorted({n.rsplit(".", 1)[0] for n in names})
        raise KeyError(f"no parameters in layers {list(layers)}; choose among {valid}")
    return chosen


def layerwise_barriers(model: nn.Module, a, b, x, y, n: int = 25, bn_x=None) -> dict[str, dict[str, float]]:
    """Barriers when only one layer (module owning parameters) moves from A to B, the others held at A."""
    layers = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in fn.base_params(model)))  # in model order
    return {ly: interpolate(model, a, b, x, y, n=n, bn_x=bn_x, layers=[ly]).barriers() for ly in layers}
