"""Faithfulness and localisation of saliency maps: deletion/insertion, pointing game, energy, class sensitivity."""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ...capture import eval_mode
from ...device import model_device
from ..methods.base import check_input
from ..methods.scoring import PerImage, as_classes, as_target, is_target, target_scores
from ..methods.util import check_maps, run_model


def blur(x: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W) images (sigma defaults to H / 8), reflect padding: the RISE baseline."""
    sigma = sigma or max(x.shape[-2:]) / 8
    r = max(1, int(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    pad_h, pad_w = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)
    y = F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="reflect" if min(pad_h, pad_w) > 0 else "replicate")
    y = F.conv2d(y, k[r - pad_h:r + pad_h + 1].view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(y, k[r - pad_w:r + pad_w + 1].view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    if isinstance(baseline, str):
        if baseline == "blur":
            return blur(x)
        if baseline == "mean":
            return x.mean(dim=(0, 2, 3), keepdim=True).expand_as(x)  # per-channel mean of the batch
        raise ValueError(f"unknown baseline {baseline!r}; choose 'blur', 'mean' or a number")
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)


@torch.no_grad()
def deletion_insertion(model: nn.Module, x, maps: torch.Tensor, targets, steps: int = 20, baseline="blur",
                       batch_size: int = 512) -> dict:
    """Target-class probability as pixels are removed (deletion) or inserted (insertion) in the map's order (a
    class logit target means its class); for another target object (targets.py: a Target, one per image, or a
    callable) the target's score instead.

    Returns curves (N, steps + 1) at fractions 0, 1/steps, ..., 1 and their trapezoid AUCs (N,): a faithful
    map has a low deletion AUC and a high insertion AUC.
    """
    x = check_input(x, model).to(model_device(model))
    n, c, h, w = x.shape
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    if not isinstance(maps, torch.Tensor) or maps.shape != (n, h, w):
        raise ValueError(f"maps must be a tensor of shape {(n, h, w)}; got {tuple(getattr(maps, 'shape', ()))}")
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values: their pixel order is undefined")
    targets = as_classes(targets)  # a class logit target: the class's probability, as for its index
    objects = is_target(targets)
    t = as_target(targets, n) if objects else torch.as_tensor(targets, device=x.device).long().expand(n)
    base = _baseline(x, baseline)
    order = maps.to(x.device).flatten(1).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(h * w, device=x.device).expand(n, -1))
    ks = torch.round(torch.linspace(0, h * w, steps + 1, device=x.device)).long()
    rank = rank.view(n, 1, h, w)
    k, b = max(1, batch_size // n), min(n, batch_size)  # per forward: k whole steps, or b images of one step
    curves = {}
    with eval_mode(model):
        for name, src, dst in (("deletion", x, base), ("insertion", base, x)):
            rows = []
            for s in range(0, steps + 1, k):
                part = []
                for i in range(0, n, b):  # whole steps: the targets see their images in order
                    # built per forward: all (S, N, C, H, W) at once is 3 GB for 256 images of 224 px
                    first = rank[None, i:i + b] < ks[s:s + k, None, None, None, None]  # (k, b, 1, H, W): top-k pixels
                    step = torch.where(first, dst[None, i:i + b], src[None, i:i + b])
                    out = run_model(model, step.flatten(0, 1), any_output=objects)
                    part.append(target_scores(out if objects else out.softmax(1),
                                              _part(t, i, i + b).repeat(len(step))).view(len(step), -1))
                rows.append(torch.cat(part, 1))
            curves[name] = torch.cat(rows).T
    out = {k: v.cpu() for k, v in curves.items()}
    for k, v in list(out.items()):
        out[f"{k}_auc"] = ((v[:, 1:] + v[:, :-1]) / 2).mean(1)
    return out


def _part(t, i: int, j: int):
    """Images i..j's targets: a slice of class indices or of one target per image; a target for all as it is."""
    if isinstance(t, torch.Tensor):
        return t[i:j]
    return PerImage(t.targets[i:j]) if isinstance(t, PerImage) else t


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: float = 0) -> torch.Tensor:
    """(N,) bool: is the map's maximum within `tolerance` pixels of the ground-truth mask (TorchRay's protocol)."""
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in shape")
    check_maps(maps, "the pointing game's maps")  # a NaN map's argmax is the NaN: a hit or a miss by chance
    n, h, w = maps.shape
    idx = maps.flatten(1).argmax(1).cpu()
    py, px = idx // w, idx % w
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    near = (yy[None] - py.view(-1, 1, 1)) ** 2 + (xx[None] - px.view(-1, 1, 1)) ** 2 <= tolerance ** 2
    return (near & masks.cpu().bool()).flatten(1).any(1)


def energy(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(N,) share of the map's total inside the mask (energy-based pointing game); 0 for an all-zero map."""
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in shape")
    m = check_maps(maps, "energy's maps").detach().cpu().clamp_min(0).flatten(1)
    inside = (m * masks.cpu().flatten(1).float()).sum(1)
    return torch.where(m.sum(1) > 0, inside / m.sum(1).clamp_min(1e-12), torch.zeros_like(inside))


def class_sensitivity(explainer, x: torch.Tensor) -> torch.Tensor:
    """(N,) Pearson correlation between maps for the highest- and lowest-scoring classes (lower: more class-sensitive).

    `explainer` is an Explainer: both classes come from one forward pass where the method allows it.
    """
    hi = explainer(x, "predicted")
    logits = explainer.logits()
    if logits is None:  # a method that does not keep its forward
        with torch.no_grad(), eval_mode(explainer.model):
            logits = explainer.model(x.to(model_device(explainer.model)))
    lo = explainer(x, logits.argmin(1))
    a, b = hi.flatten(1), lo.flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)).cpu()
