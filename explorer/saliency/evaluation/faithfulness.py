"""Faithfulness, robustness and simplicity metrics of attributions (as in Quantus): faithfulness correlation,
max-sensitivity, sparseness (Gini), complexity (entropy) and random-logit."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...capture import eval_mode
from ...device import model_device
from ..methods.scoring import is_target, target_scores
from ..methods.util import ClassesOnly, check_input, check_maps, resolve_targets, run_model
from .similarity import ssim


def _flat(a: torch.Tensor, what: str = "attributions") -> torch.Tensor:
    """(N, ...) -> (N, D) float64; NaN or inf refused (a score of them is meaningless)."""
    return check_maps(a, what).detach().flatten(1).double()


def _by_batch_max(a: torch.Tensor) -> torch.Tensor:
    """Quantus's normalise_by_max: divide by max |a| over the whole batch."""
    m = a.abs().max()
    return a / m if m > 0 else a


def sparseness(a: torch.Tensor) -> torch.Tensor:
    """(N,) Gini index of |a| (Chalasani et al. 2020; Quantus Sparseness): 0 for a uniform map, ~1 for one pixel."""
    v = _by_batch_max(_flat(a)).abs() + 1e-7
    v, _ = v.sort(dim=1)
    n = v.shape[1]
    i = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    return ((2 * i - n - 1) * v).sum(1) / (n * v.sum(1))


def complexity(a: torch.Tensor) -> torch.Tensor:
    """(N,) entropy of |a| / sum |a| (Bhatt et al. 2020; Quantus Complexity): log(n) for a uniform map, 0 for one."""
    v = _by_batch_max(_flat(a)).abs()
    p = v / v.sum(1, keepdim=True).clamp_min(1e-300)
    return -(p * torch.log(p + 1e-12)).sum(1)


def _per_pixel(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Attributions as (N, C*H*W) over x's features: (N, H, W) maps and 1-channel attributions are broadcast."""
    a = a.to(x.device)
    if a.ndim == 3:
        a = a[:, None]
    return a.expand_as(x).flatten(1)


def subsets(runs: int, n: int, d: int, size: int, seed: int) -> torch.Tensor:
    """(runs, n, size) random feature indices without replacement, per run and image, from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(d, generator=gen)[:size] for _ in range(runs * n)]).view(runs, n, size)


@torch.no_grad()
def faithfulness_correlation(model: nn.Module, x, attributions: torch.Tensor, targets="predicted", labels=None,
                             runs: int = 100, subset: int = 224, baseline="black", seed: int = 0,
                             batch_size: int = 512, progress=None) -> torch.Tensor:
    """(N,) Pearson correlation, over random feature subsets S, between sum(a[S]) and S_t(x) - S_t(x with S set to
    the baseline) (Bhatt et al. 2020; Quantus FaithfulnessCorrelation). baseline 'black' = each image's minimum.
    S_t: the target class's logit, or a target object's score (targets.py)."""
    x = check_input(x).to(model_device(model))
    if runs < 2 or subset < 1:
        raise ValueError(f"need runs >= 2 and subset >= 1; got runs={runs}, subset={subset}")
    n, d = len(x), x[0].numel()
    if subset > d:
        raise ValueError(f"subset {subset} is larger than the {d} features of an image")
    a = _per_pixel(check_maps(attributions, "faithfulness correlation's attributions"), x).double()
    flat = x.flatten(1)
    base = flat.min(1, keepdim=True).values if baseline == "black" else torch.full_like(flat[:, :1], float(baseline))
    idx = subsets(runs, n, d, subset, seed).to(x.device)
    with eval_mode(model):
        logits = run_model(model, x, any_output=True)
        t = resolve_targets(targets, logits, labels, objects=True)
        y = target_scores(logits, t)
        drops, sums = [], []
        chunk = max(1, batch_size // n)
        for r in range(0, runs, chunk):
            ix = idx[r:r + chunk]  # (k, N, subset)
            pert = flat[None].expand(len(ix), -1, -1).clone()
            pert.scatter_(2, ix, base[None].expand(len(ix), -1, subset))
            out = run_model(model, pert.view(-1, *x.shape[1:]), any_output=True)
            drops.append(y[None] - target_scores(out, t.repeat(len(ix))).view(len(ix), n))
            sums.append(a[None].expand(len(ix), -1, -1).gather(2, ix).sum(2))
            if progress is not None:
                progress(min(r + chunk, runs), runs, {})
    dy, sa = torch.cat(drops).double().T, torch.cat(sums).T  # (N, runs)
    dy, sa = dy - dy.mean(1, keepdim=True), sa - sa.mean(1, keepdim=True)
    return ((dy * sa).sum(1) / (dy.norm(dim=1) * sa.norm(dim=1))).float().cpu()


def uniform_noise(shape, radius: float, gen: torch.Generator) -> torch.Tensor:
    """U(-radius, radius) noise of a shape, on the CPU, from the generator."""
    return (torch.rand(shape, generator=gen) * 2 - 1) * radius


def max_sensitivity(model: nn.Module, x, method, targets="predicted", labels=None, samples: int = 200,
                    radius: float = 0.2, seed: int = 0, progress=None) -> torch.Tensor:
    """(N,) max over uniform perturbations |d| <= radius of ||m(x + d) - m(x)|| / ||m(x)|| for the method's maps
    (Yeh et al. 2019; Quantus MaxSensitivity, relative Frobenius difference). Targets stay those of x."""
    x = check_input(x).to(model_device(model))
    if samples < 1:
        raise ValueError(f"samples must be >= 1; got {samples}")
    with torch.no_grad(), eval_mode(model):
        t = resolve_targets(targets, run_model(model, x, any_output=True), labels, objects=True)
    ref = _flat(method(model, x, t), "max-sensitivity's maps")
    gen = torch.Generator().manual_seed(seed)
    worst = torch.zeros(len(x), dtype=torch.float64)
    for s in range(samples):
        noise = uniform_noise(x.shape, radius, gen)
        m = _flat(method(model, x + noise.to(x.device, x.dtype), t), f"max-sensitivity's maps (noise sample {s})")
        worst = torch.maximum(worst, ((m - ref).norm(dim=1) / ref.norm(dim=1).clamp_min(1e-12)).cpu())
        if progress is not None:
            progress(s + 1, samples, {})
    return worst.float()


def random_logit(model: nn.Module, x, method, targets="predicted", labels=None, seed: int = 0,
                 similarity=ssim) -> torch.Tensor:
    """(N,) similarity (2-D SSIM) between the map for the target and the map for a random other class (Sixt et al.
    2020; Quantus RandomLogit): low means the map depends on the class. The other class is drawn as Quantus 0.6.0
    does (RandomState(seed).randint over the K-1 others), so fixed seeds pick the same classes. Quantus differs:
    it flattens the maps to 1-D before SSIM (a window that runs across row ends) with data_range = the pair's
    range (ssim_flat, pass similarity=ssim_flat to get its numbers); it divides maps by the batch's max |a|, a near
    no-op on our [0, 1] maps that we skip so a score does not depend on the batch; and it reseeds per batch of 64,
    so every batch reuses the same draws, where ours draws once for all N."""
    x = check_input(x).to(model_device(model))
    if is_target(targets):
        raise ClassesOnly(f"random-logit compares the maps of two classes of a classifier; a target object "
                          f"({targets!r}) has no other class to draw")
    with torch.no_grad(), eval_mode(model):
        logits = run_model(model, x)
    t = resolve_targets(targets, logits, labels)
    k = logits.shape[1]
    if k < 2:
        raise ValueError("random-logit needs at least two classes")
    j = torch.from_numpy(np.random.RandomState(seed).randint(0, k - 1, len(x))).long()
    other = j + (j >= t.cpu()).long()  # the j-th class after removing the target: uniform over the others
    a = check_maps(method(model, x, t), "random-logit's maps").cpu()
    b = check_maps(method(model, x, other.to(t.device)), "random-logit's maps for the other class").cpu()
    return torch.tensor([similarity(a[i], b[i]) for i in range(len(x))])
