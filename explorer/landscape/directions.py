"""Directions in weight space (dicts name -> tensor over the parameters, on the model's device)."""
from __future__ import annotations

import torch
from torch import nn

from .functional import base_params

NORMS = ("filter", "layer", "none")
ONE_D = ("zero", "scaled")


def _choice(value: str, choices: tuple, what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value


def normalize(d: torch.Tensor, w: torch.Tensor, norm: str, one_d: str) -> torch.Tensor:
    """Rescale a direction tensor d like the weight w (Li et al. 2018, net_plotter.normalize_direction)."""
    if w.dim() <= 1:  # biases, BatchNorm weights: explicit policy ("zero" is Li et al.'s ignore='biasbn')
        if one_d == "zero":
            return torch.zeros_like(d)
        return d if norm == "none" else d * (w.norm() / (d.norm() + 1e-10))
    if norm == "filter":  # each filter along dim 0 (conv out-channel, Linear row) gets its weight filter's norm
        df, wf = d.reshape(len(d), -1), w.reshape(len(w), -1)
        return (df * (wf.norm(dim=1, keepdim=True) / (df.norm(dim=1, keepdim=True) + 1e-10))).reshape(d.shape)
    if norm == "layer":
        return d * (w.norm() / (d.norm() + 1e-10))
    return d


def random_direction(model: nn.Module, norm: str = "filter", one_d: str = "zero", seed: int = 0) -> dict:
    """A Gaussian direction, normalised by `norm` ('filter', 'layer', 'none'); 1-D tensors by `one_d`.

    Drawn on the CPU from a torch.Generator seeded with `seed` (the same on every device; global RNG untouched).
    """
    _choice(norm, NORMS, "normalisation")
    _choice(one_d, ONE_D, "1-D tensor policy")
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for n, w in base_params(model).items():
        d = torch.randn(w.shape, generator=gen, dtype=torch.float32).to(device=w.device, dtype=w.dtype)
        out[n] = normalize(d, w, norm, one_d)
    return out


def random_plane(model: nn.Module, norm: str = "filter", one_d: str = "zero", seed: int = 0) -> tuple[dict, dict]:
    """Two independent Gaussian directions (seeds seed and seed + 1): nearly orthogonal in high dimension."""
    return random_direction(model, norm, one_d, seed), random_direction(model, norm, one_d, seed + 1)


def _params_of(model_or_state, names) -> dict:
    """Parameters by name from a model or a state dict; KeyError naming missing ones."""
    src = base_params(model_or_state) if isinstance(model_or_state, nn.Module) else model_or_state
    missing = [n for n in names if n not in src]
    if missing:
        raise KeyError(f"the state has no parameters {missing[:5]}; it has {list(src)[:8]}")
    return src


def check_same_architecture(model: nn.Module, other) -> None:
    """ValueError if `other` (a model or state dict) has different parameter/buffer names or shapes."""
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in (other.state_dict() if isinstance(other, nn.Module) else other).items()}
    if mine != theirs:
        diff = sorted(set(mine.items()) ^ set(theirs.items()))[:4]
        raise ValueError(f"the two models have different architectures (names or shapes differ: {diff})")


def model_direction(model: nn.Module, target) -> dict:
    """target - model over the parameters (target: a model or a state dict of the same architecture)."""
    check_same_architecture(model, target)
    base = base_params(model)
    src = _params_of(target, base)
    return {n: src[n].detach().to(device=w.device, dtype=w.dtype) - w for n, w in base.items()}


def pca_directions(model: nn.Module, checkpoints, k: int = 2, one_d: str = "zero") -> tuple[list[dict], list[float]]:
    """The top-k principal directions of the trajectory's checkpoints around the model (Li et al. 2018, sec. 7).

    checkpoints: list of (epoch, state dict) as in session.history.checkpoints. Returns (directions, explained
    variance ratios). With one_d='zero' 1-D tensors are left out, as LL-G's ignore='biasbn'.
    """
    _choice(one_d, ONE_D, "1-D tensor policy")
    if len(checkpoints) < k + 1:
        raise ValueError(f"PCA of the trajectory needs at least {k + 1} checkpoints; got {len(checkpoints)}")
    base = base_params(model)
    names = [n for n, w in base.items() if w.dim() > 1 or one_d == "scaled"]
    for _, state in checkpoints:
        check_same_architecture(model, state)
    rows = torch.stack([torch.cat([(s[n].to(base[n].device, torch.float64) - base[n].double()).reshape(-1)
                                   for n in names]) for _, s in checkpoints])
    rows = rows - rows.mean(0)
    _, sv, vh = torch.linalg.svd(rows, full_matrices=False)
    ratio = (sv**2 / (sv**2).sum().clamp_min(1e-300))[:k].tolist()
    dirs = []
    for v in vh[:k]:
        v = v * torch.sign(v[v.abs().argmax()])  # fix the arbitrary sign: largest entry positive
        d, i = {}, 0
        for n, w in base.items():
            if n in names:
                d[n] = v[i:i + w.numel()].reshape(w.shape).to(w.dtype)
                i += w.numel()
            else:
                d[n] = torch.zeros_like(w)
        dirs.append(d)
    return dirs, ratio
