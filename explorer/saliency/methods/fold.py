"""BatchNorm folded into the convolution before it, on a copy of the model, for passes that need no gradient."""
from __future__ import annotations

import copy

import torch
from torch import nn

# every subclass of torch's private _BatchNorm, by its public name
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LazyBatchNorm1d, nn.LazyBatchNorm2d,
              nn.LazyBatchNorm3d)


def folded(model: nn.Module) -> nn.Module:
    """An eval-mode, hook-free copy of model with each Conv -> BatchNorm pair folded into one convolution.

    Exact algebra in eval mode (w' = w gamma / sigma, b' = (b - mu) gamma / sigma + beta): the logits agree to float
    rounding (about 1e-6 on a random resnet18) and each BatchNorm's pass over memory is gone, which on the CPU is
    about a third of a resnet's time at batch 64 (benchmarks/README.md, Score-CAM). Models that torch.fx cannot
    trace, or with nothing to fold, come back as they are (the caller runs them under eval_mode itself).
    """
    if not any(isinstance(m, BATCHNORMS) for m in model.modules()):
        return model
    from torch.fx.experimental.optimization import fuse

    try:
        twin = copy.deepcopy(model).eval()
        for m in twin.modules():  # the copy must not fire the caller's hooks (a CAM's capture is registered now);
            # no public API removes hooks without their handles, so the copy's hook dicts are cleared
            m._forward_hooks.clear()
            m._forward_pre_hooks.clear()
            m._backward_hooks.clear()
            getattr(m, "_backward_pre_hooks", {}).clear()
        out = fuse(twin, inplace=True)
    except Exception:  # noqa: BLE001 - not copyable or not traceable (control flow on values): the plain model
        return model
    if next(model.parameters()).device.type == "cpu":
        out = out.to(memory_format=torch.channels_last)  # our copy: its weights may take oneDNN's layout
    return out.requires_grad_(False)
