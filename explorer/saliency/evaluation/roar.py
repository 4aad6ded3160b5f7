"""DiffROAR (Shah, Jain, Netrapalli 2021): retrain on top-k vs bottom-k attributed pixels; accuracy difference."""
from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch import nn

from ...data import ImageSet
from ...train import evaluate, train


def keep_pixels(images: torch.Tensor, maps: torch.Tensor, k: float, top: bool, fill) -> torch.Tensor:
    """Keep the top (or bottom) fraction k of pixels by map value; the rest get `fill` (per channel)."""
    n, c, h, w = images.shape
    order = maps.flatten(1).argsort(dim=1, descending=top, stable=True)[:, :max(1, round(k * h * w))]
    keep = torch.zeros(n, h * w, dtype=torch.bool, device=images.device).scatter_(1, order.to(images.device), True)
    fill = torch.as_tensor(fill, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return torch.where(keep.view(n, 1, h, w), images, fill)  # AQ(A, k) of the reference code


def reinit(model: nn.Module, seed: int) -> nn.Module:
    """A fresh copy of the architecture with seeded new weights (the user's model is untouched)."""
    net = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):  # reset_parameters draws from the global RNG: seed a private copy
        torch.manual_seed(seed)
        for m in net.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return net


def split_maps(model: nn.Module, method, data: ImageSet, batch_size: int = 256) -> dict:
    """{split: (N, H, W)} maps of a method (a registered name or a Saliency) for the true classes, on the CPU."""
    from ..methods.explainer import make_method

    method = make_method(method) if isinstance(method, str) else method
    out = {}
    for s in ("train", "test"):
        x, y = data.inputs(s), data.labels(s)
        out[s] = torch.cat([method(model, x[i:i + batch_size], y[i:i + batch_size]).cpu()
                            for i in range(0, len(x), batch_size)])
    return out


def diff_roar(model: nn.Module, data: ImageSet, maps: dict, k: float = 0.2, epochs: int = 5, seed: int = 0,
              progress=None, **train_kwargs) -> dict:
    """Accuracy of the architecture retrained on the top-k% attributed pixels minus on the bottom-k%.

    `maps`: split -> (N, H, W) attributions for data.images(split), or a method (name or Saliency) whose maps
    for the true class on `model` are used. Masked pixels get the
    dataset mean. > 0: the method ranks discriminative pixels first; a random map gives about 0.
    progress(done, total, info) reports both trainings as one; train_kwargs (lr, batch_size) go to train().
    """
    if not 0 < k < 1:
        raise ValueError(f"k must be a fraction in (0, 1); got {k}")
    if not isinstance(maps, dict):  # a method (name or instance): attribute the true class on both splits
        maps = split_maps(model, maps, data)
    for split in ("train", "test"):
        if split not in maps or maps[split].shape != data.images(split)[:, 0].shape:
            raise ValueError(f"maps[{split!r}] must have shape {tuple(data.images(split)[:, 0].shape)}")
    out = {}
    for i, top in enumerate((True, False)):
        x = {s: keep_pixels(data.images(s), maps[s].cpu(), k, top, data.mean) for s in ("train", "test")}
        masked = replace(data, x=x, masks={})
        net = reinit(model, seed)
        report = None if progress is None else (
            lambda done, total, info=None, i=i: progress(i * total + done, 2 * total, {"run": "top" if i == 0 else
                                                                                          "bottom", **(info or {})}))
        train(net, masked, epochs=epochs, seed=seed, progress=report, **train_kwargs)
        acc = evaluate(net, masked.inputs("test"), masked.labels("test")).accuracy
        out["top_accuracy" if top else "bottom_accuracy"] = acc
    out["diff_roar"] = out["top_accuracy"] - out["bottom_accuracy"]
    return out
