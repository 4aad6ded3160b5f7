"""Permutation alignment of two MLPs by weight matching (Ainsworth et al. 2023, git-re-basin weight_matching)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .directions import check_same_architecture


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The parameter-owning leaves in order; ValueError unless they are Linear and BatchNorm1d layers."""
    out = [(n, m) for n, m in model.named_modules() if not list(m.children()) and list(m.parameters(recurse=False))]
    bad = [(n, type(m).__name__) for n, m in out if not isinstance(m, nn.Linear | nn.BatchNorm1d)]
    if bad:
        raise ValueError(f"weight matching supports MLPs (Linear and BatchNorm1d layers); got {bad[0][1]} at "
                         f"{bad[0][0]!r}")
    return out


def _groups(model: nn.Module) -> list[list[tuple[str, str]]]:
    """Per hidden layer, the (module name, role) pairs its permutation acts on: 'out' rows, 'in' columns."""
    groups, current = [], None
    for name, m in _layers(model):
        if isinstance(m, nn.Linear):
            if current is not None:
                current.append((name, "in"))
                groups.append(current)
            current = [(name, "out")]
        elif current is not None:
            current.append((name, "bn"))
    return groups  # the read-out's outputs are not permuted


def _along(state: dict, name: str, role: str) -> list[torch.Tensor]:
    """The tensors of one (module, role) with the permuted axis first."""
    if role == "in":
        return [state[f"{name}.weight"].t()]
    keys = ("weight", "bias") if role == "out" else ("weight", "bias", "running_mean", "running_var")
    return [state[f"{name}.{k}"] for k in keys if f"{name}.{k}" in state]


def permute(state: dict, model: nn.Module, perms: list[np.ndarray]) -> dict:
    """A state dict with hidden layer i's units reordered by perms[i] (the network's function is unchanged)."""
    out = {k: v.clone() for k, v in state.items()}
    for group, p in zip(_groups(model), perms, strict=True):
        idx = torch.as_tensor(p)
        for name, role in group:
            if role == "in":
                out[f"{name}.weight"] = out[f"{name}.weight"][:, idx]
            else:
                for k in ("weight", "bias", "running_mean", "running_var"):
                    if f"{name}.{k}" in out:
                        out[f"{name}.{k}"] = out[f"{name}.{k}"][idx]
    return out


def weight_matching(model: nn.Module, a, b, max_sweeps: int = 100, seed: int = 0) -> tuple[dict, list[np.ndarray]]:
    """Permute b's hidden units to maximise sum <W_a, P W_b> over layers; returns (aligned state of b, perms).

    Coordinate descent over hidden layers in random order, each step a linear assignment (scipy), until no
    layer improves. a, b: models or state dicts of model's architecture (an MLP).
    """
    from scipy.optimize import linear_sum_assignment

    check_same_architecture(model, a)
    check_same_architecture(model, b)
    sa = {k: v.detach().double().cpu() for k, v in (a.state_dict() if isinstance(a, nn.Module) else a).items()
          if v.is_floating_point()}
    src_b = b.state_dict() if isinstance(b, nn.Module) else b
    sb = {k: v.detach().double().cpu() for k, v in src_b.items() if v.is_floating_point()}
    groups = _groups(model)
    perms = [np.arange(len(_along(sa, *g[0])[0])) for g in groups]
    rng = np.random.default_rng(seed)
    for _ in range(max_sweeps):
        improved = False
        for gi in rng.permutation(len(groups)):
            current = permute(sb, model, perms)
            others = permute(sb, model, [np.arange(len(p)) if i == gi else p for i, p in enumerate(perms)])
            cost = sum(ta.reshape(len(ta), -1) @ tb.reshape(len(tb), -1).t()
                       for name, role in groups[gi]
                       for ta, tb in zip(_along(sa, name, role), _along(others, name, role), strict=True))
            _, new = linear_sum_assignment(cost.numpy(), maximize=True)
            old_score = sum((ta * tb).sum() for name, role in groups[gi]
                            for ta, tb in zip(_along(sa, name, role), _along(current, name, role), strict=True))
            if cost.numpy()[np.arange(len(new)), new].sum() > float(old_score) + 1e-12:
                perms[gi], improved = new, True
        if not improved:
            break
    return permute({k: v.detach() for k, v in src_b.items()}, model, perms), perms
