"""Permutation alignment of two MLPs or plain CNNs by weight matching (Ainsworth et al. 2023, git-re-basin)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .directions import check_same_architecture

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The parameter-owning leaves in order; ValueError unless they are Linear/Conv and BatchNorm layers."""
    out = [(n, m) for n, m in model.named_modules() if not list(m.children()) and list(m.parameters(recurse=False))]
    bad = [(n, type(m).__name__) for n, m in out if not isinstance(m, WEIGHTED + NORMS)]
    if bad or not out:
        what = f"; got {bad[0][1]} at {bad[0][0]!r}" if bad else ""
        raise ValueError("weight matching supports MLPs and plain CNNs (a chain of Linear, Conv and BatchNorm "
                         f"layers, no skip connections){what}")
    return out


def _groups(model: nn.Module) -> list[list[tuple[str, str, int]]]:
    """Per hidden layer, the (module, role, block) its permutation acts on: 'out' rows (filters), 'bn', and 'in'
    columns of the next weight layer, in blocks of `block` (a Linear after flattening a conv's C x h x w)."""
    groups, current, width = [], None, 0
    for name, m in _layers(model):
        if isinstance(m, WEIGHTED):
            fan_in = m.weight.shape[1]
            if current is not None:
                if fan_in % width:
                    raise ValueError(f"weight matching: {name!r} takes {fan_in} inputs, not a multiple of the "
                                     f"{width} units before it (only plain chains are supported)")
                current.append((name, "in", fan_in // width))
                groups.append(current)
            current, width = [(name, "out", 1)], m.weight.shape[0]
        elif current is not None:
            current.append((name, "bn", 1))
    return groups  # the read-out's outputs are not permuted


def _along(state: dict, name: str, role: str, block: int) -> list[torch.Tensor]:
    """The tensors of one (module, role) with the permuted axis first."""
    if role == "in":
        w = state[f"{name}.weight"]
        w = w.reshape(w.shape[0], -1, block, *w.shape[2:]) if block > 1 else w  # (out, C, block, ...)
        return [w.transpose(0, 1)]
    keys = ("weight", "bias") if role == "out" else ("weight", "bias", "running_mean", "running_var")
    return [state[f"{name}.{k}"] for k in keys if f"{name}.{k}" in state]


def permute(state: dict, model: nn.Module, perms: list[np.ndarray]) -> dict:
    """A state dict with hidden layer i's units reordered by perms[i] (the network's function is unchanged)."""
    out = {k: v.clone() for k, v in state.items()}
    for group, p in zip(_groups(model), perms, strict=True):
        idx = torch.as_tensor(p)
        for name, role, block in group:
            if role == "in":
                w = out[f"{name}.weight"]
                blocks = w.reshape(w.shape[0], -1, block, *w.shape[2:])  # a flattened channel's block moves whole
                out[f"{name}.weight"] = blocks[:, idx].reshape(w.shape)
            else:
                for k in ("weight", "bias", "running_mean", "running_var"):
                    if f"{name}.{k}" in out:
                        out[f"{name}.{k}"] = out[f"{name}.{k}"][idx]
    return out


def weight_matching(model: nn.Module, a, b, max_sweeps: int = 100, seed: int = 0,
                    check_x: torch.Tensor | None = None) -> tuple[dict, list[np.ndarray]]:
    """Permute b's hidden units to maximise sum <W_a, P W_b> over layers; returns (aligned state of b, perms).

    Coordinate descent over hidden layers in random order, each step a linear assignment (scipy), until no
    layer improves. a, b: models or state dicts of model's architecture (an MLP or a plain CNN, modules
    registered in the order they run). check_x: inputs on which the aligned b must compute what b computes;
    a ValueError otherwise (a skip connection or a reordered forward breaks the chain this assumes).
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
            pairs = [(ta.reshape(len(ta), -1), tc.reshape(len(tc), -1), to.reshape(len(to), -1))
                     for g in groups[gi] for ta, tc, to in zip(_along(sa, *g), _along(current, *g),
                                                               _along(others, *g), strict=True)]
            cost = sum(ta @ to.t() for ta, _, to in pairs)
            _, new = linear_sum_assignment(cost.numpy(), maximize=True)
            old_score = sum(float((ta * tc).sum()) for ta, tc, _ in pairs)
            if cost.numpy()[np.arange(len(new)), new].sum() > old_score + 1e-9 * max(abs(old_score), 1.0):
                perms[gi], improved = new, True
        if not improved:
            break
    aligned = permute({k: v.detach() for k, v in src_b.items()}, model, perms)
    if check_x is not None:
        _check_function(model, src_b, aligned, check_x)
    return aligned, perms


@torch.no_grad()
def _check_function(model: nn.Module, state: dict, aligned: dict, x: torch.Tensor) -> None:
    """ValueError unless the aligned weights compute what the original ones compute on x (eval mode)."""
    from ..capture import eval_mode
    from ..device import model_device
    from .functional import forward

    device = model_device(model)
    names = dict(model.named_parameters())
    split = lambda s: ({k: v.to(device) for k, v in s.items() if k in names},  # noqa: E731
                       {k: v.to(device) for k, v in s.items() if k not in names})
    x = x.to(device)
    with eval_mode(model):
        before, after = forward(model, *split(state), x), forward(model, *split(aligned), x)
    if not torch.allclose(before, after, rtol=1e-4, atol=1e-4 * float(before.abs().max()) + 1e-6):
        raise ValueError("weight matching changed what the model computes: it assumes a plain chain of layers "
                         "run in the order they are registered (no skip connections); this model is not one")
