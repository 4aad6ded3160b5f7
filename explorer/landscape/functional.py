"""Functional evaluation of a model at other weights: the user's model is never written to."""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..capture import eval_mode
from ..device import free_bytes, model_device
from ..estimates import activation_bytes

BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
EVAL_BATCH = 512  # the batch size of explorer.train.evaluate, so the origin's loss matches it to the last bit


def base_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached views of the parameters (no copy, never written to)."""
    return {n: p.detach() for n, p in model.named_parameters()}


def base_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached views of the buffers (BatchNorm running statistics)."""
    return {n: b.detach() for n, b in model.named_buffers()}


def forward(model: nn.Module, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
    """The model's output at (params, buffers), without touching its own tensors."""
    return functional_call(model, {**buffers, **params}, (x,), tie_weights=False, strict=False)


@torch.no_grad()
def metrics(model: nn.Module, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) at params, in eval mode; NaN for both where the logits are not finite."""
    total, correct = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(x), EVAL_BATCH):
            logits = forward(model, params, buffers, x[i:i + EVAL_BATCH]).float()
            if not torch.isfinite(logits).all():
                return float("nan"), float("nan")
            yb = y[i:i + EVAL_BATCH]
            total += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    loss = total / max(len(x), 1)
    return (loss if loss == loss and abs(loss) != float("inf") else float("nan")), correct / max(len(x), 1)


@contextlib.contextmanager
def bn_train_mode(model: nn.Module):
    """Only the BatchNorm layers in train mode (dropout stays off); every mode restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        for m in model.modules():
            if isinstance(m, BN):
                m.train()
        yield
    finally:
        for m, mode in modes:
            m.training = mode


@torch.no_grad()
def recompute_bn(model: nn.Module, params: dict, buffers: dict, x: torch.Tensor) -> dict:
    """Buffers with every BatchNorm's running statistics set to the batch statistics of x at params.

    Functional: the running statistics start from zero copies, so one momentum update m leaves m * (batch stat);
    dividing by m recovers the batch mean and (unbiased) variance exactly as update_bn with one batch would.
    """
    bns = {n: m for n, m in model.named_modules() if isinstance(m, BN) and m.track_running_stats}
    if not bns:
        return buffers
    new = dict(buffers)
    for n in bns:
        new[f"{n}.running_mean"] = torch.zeros_like(buffers[f"{n}.running_mean"])
        new[f"{n}.running_var"] = torch.zeros_like(buffers[f"{n}.running_var"])
        new[f"{n}.num_batches_tracked"] = torch.zeros_like(buffers[f"{n}.num_batches_tracked"])
    with bn_train_mode(model):
        forward(model, params, new, x)
    for n, m in bns.items():
        mom = 1.0 if m.momentum is None else m.momentum  # momentum None: cumulative average, factor 1 at first batch
        new[f"{n}.running_mean"] /= mom
        new[f"{n}.running_var"] /= mom
        new[f"{n}.num_batches_tracked"] = buffers[f"{n}.num_batches_tracked"]
    return new


def check_fits(model: nn.Module, x: torch.Tensor, n_points: int) -> int:
    """Bytes one grid point needs; raises MemoryError naming the estimate when even one point would not fit."""
    device = model_device(model)
    param = sum(p.numel() * p.element_size() for p in model.parameters())
    per_point = len(x) * activation_bytes(model, x.to(device)) + 3 * param
    need = per_point + n_points * 16  # results: loss and accuracy per point
    free = free_bytes(device)
    if need > free:
        raise MemoryError(f"the landscape needs about {need / 2**20:.0f} MiB per point on {device} but only "
                          f"{free / 2**20:.0f} MiB are available: use fewer evaluation inputs or grid points")
    return per_point
