"""Pass sizes that keep a pass's widest activation in the CPU's last-level cache."""
from __future__ import annotations

import torch
from torch import nn

from ...capture import eval_mode
from ...device import cache_bytes
from .util import run_model


def widest_activation(model: nn.Module, x1: torch.Tensor) -> int:
    """Bytes of the largest tensor any leaf module outputs for the one input x1 (one forward in eval mode, no
    gradient: a train-mode model's BatchNorm statistics stay as they are)."""
    widest = [x1.numel() * x1.element_size()]

    def note(module, inputs, out):
        if isinstance(out, torch.Tensor):
            widest[0] = max(widest[0], out.numel() * out.element_size())

    handles = [m.register_forward_hook(note) for m in model.modules() if not any(True for _ in m.children())]
    try:
        with eval_mode(model), torch.no_grad():
            run_model(model, x1)  # cast to the model's dtype, as every pass of the method is
    finally:
        for h in handles:
            h.remove()
    return widest[0]


def fitting_batch(model: nn.Module, x1: torch.Tensor, limit: int) -> int:
    """At most limit; on the CPU, as many inputs as keep the widest activation of a pass within the last-level cache.

    oneDNN's convolutions on a 2-core EPYC (32 MiB L3), resnet18 at 224 (3.2 MB at its widest, the stem): 8.4 ms an
    image at batch 8, 9.8 at 16, 12.1 at 64 (benchmarks/README.md, "Score-CAM on the CPU, and pass sizes"). On other
    devices the limit is used: a GPU wants large batches.
    """
    if x1.device.type != "cpu":
        return limit
    return max(1, min(limit, cache_bytes() // widest_activation(model, x1[:1])))
