"""ARCC (pytorch-grad-cam 1.5.7's metrics/arcc.py): the harmonic mean of coherency, 1 - complexity and ROAD."""
from __future__ import annotations

import torch
from torch import nn

from ...capture import eval_mode
from ...device import model_device
from ..methods.util import check_input, check_maps, resolve_targets, run_model
from .road import road


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, ...) x2 -> (N,) Pearson correlation per pair, eps 1e-8 on the denominator (the peer's)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    n = a.shape[1] - 1
    return (a * b).sum(1) / n / ((a.square().sum(1) / n).sqrt() * (b.square().sum(1) / n).sqrt() + 1e-8)


def arcc(model: nn.Module, x, maps: torch.Tensor, method, targets="predicted", labels=None,
         removed=(80, 60, 40, 20), seed: int = 0, variant: str = "pytorch-grad-cam") -> dict[str, torch.Tensor]:
    """{'arcc', 'complexity', 'coherency', 'road'}, each (N,): complexity = mean |map|; coherency = (1 + Pearson of
    the map with `method`'s map of x * map) / 2; road = 2 x ROAD combined (`road()`, removed = 100 - the peer's
    percentiles 20..80), clipped to [0, 1]; arcc = 3 / (1 / coherency + 1 / (1 - complexity) + 1 / road), each with
    1e-8 added. Maps (N, H, W) in [0, 1], e.g. method's own."""
    x = check_input(x).to(model_device(model))
    maps = check_maps(maps, "ARCC's maps").to(x.device)
    if maps.shape != (len(x), *x.shape[-2:]):
        raise ValueError(f"ARCC needs one (H, W) map per image: maps {tuple(maps.shape)} for images {tuple(x.shape)}")
    with eval_mode(model), torch.no_grad():
        t = resolve_targets(targets, run_model(model, x, any_output=True), labels, objects=True)
    complexity = maps.flatten(1).abs().double().mean(1)
    coherency = (pearson(method(model, x * maps[:, None], t), maps) + 1) / 2
    r = (2 * road(model, x, maps, t, removed=removed, seed=seed, variant=variant).double()).clamp(0, 1)
    score = 3 / (1 / (coherency + 1e-8) + 1 / (1 - complexity + 1e-8) + 1 / (r + 1e-8))
    return {"arcc": score.float().cpu(), "complexity": complexity.float().cpu(), "coherency": coherency.float().cpu(),
            "road": r.float().cpu()}
