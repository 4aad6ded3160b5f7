"""What the labs' slow jobs cost before they start (explorer.jobs.Estimate): one timed small pass, scaled.

Each estimate runs on the caller's thread (it may use the model, as a job's prepare() does), times at most one
small forward (or forward and backward) after a warm-up, and multiplies it by the job's count of such passes.
The factors were measured on the default CNN on digits on one CPU thread (tests/test_estimates.py keeps each
estimate within 0.2x..5x of the measured time); on other hardware they are a guess of the right order.
"""
from __future__ import annotations

import math
import time

import torch

from .capture import eval_mode
from .data import as_model_input
from .device import model_device
from .jobs import Estimate

CODES_OVERHEAD = 3.0  # hooks, the sign test and bit packing on top of a plain forward (measured 3.7x)
HVP_PER_GRAD = 2.0  # a Hessian-vector product (double backward) against one forward and backward
TRAIN_PER_GRAD = 1.5  # an optimiser step against one forward and backward (the CNN: 1.2 to 2x measured)
STEP_OVERHEAD = 1.5e-3  # seconds of Python per training step: the floor of tiny models (the phase sweep's MLPs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_pass(model, x: torch.Tensor, grad: bool = False) -> float:
    """Seconds of one pass over x after a warm-up: a forward in eval mode, or (grad) forward and backward of the
    summed log-sum-exp w.r.t. copies of the parameters, so the model's .grad stays empty."""
    from torch.func import functional_call

    device = model_device(model)
    x = as_model_input(x, model, "inputs").to(device)
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def once():
        with eval_mode(model):
            if not grad:
                with torch.no_grad():
                    return model(x)
            leaves = {n: p.clone().requires_grad_(True) for n, p in params.items()}
            with torch.enable_grad():
                out = functional_call(model, {**buffers, **leaves}, (x,), tie_weights=False, strict=False)
                return torch.autograd.grad(out.float().logsumexp(1).sum(), list(leaves.values()))
    once()  # warm-up: first-call allocations and kernel choice
    times = []
    while len(times) < 3 and (len(times) < 1 or sum(times) < 0.01):  # a pass of milliseconds: the median of 3
        _sync(device)
        start = time.perf_counter()
        once()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def per_input(model, x: torch.Tensor, batch: int = 256, grad: bool = False) -> float:
    """Seconds per input of a pass over batches of `batch` inputs (one batch of x timed)."""
    xb = x[:batch]
    return timed_pass(model, xb, grad) / max(len(xb), 1)


@torch.no_grad()
def activation_bytes(model, x: torch.Tensor) -> int:
    """Bytes of the largest and all leaf outputs for one input of x, summed: a per-sample memory estimate (the
    peak layer twice, for its input and output, plus a quarter of the rest as slack)."""
    sizes = []
    x1 = as_model_input(x[:1], model, "inputs").to(model_device(model))
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel() * o.element_size()))
             for m in model.modules() if not list(m.children())]
    try:
        with eval_mode(model):
            model(x1)
    finally:
        for h in hooks:
            h.remove()
    return 2 * max(sizes, default=0) + sum(sizes) // 4


def param_bytes(model) -> int:
    """Bytes of the parameters."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def forwards(session, x, count: int, what: str, batch: int = 512) -> Estimate:
    """count passes over x (forward only): time and the activations of one batch."""
    sec = per_input(session.model, x, batch) * len(x) * count
    return Estimate(sec, min(len(x), batch) * activation_bytes(session.model, x) + 3 * param_bytes(session.model),
                    what)


def train_seconds(model, x: torch.Tensor, n: int, epochs: int, n_test: int = 0, batch_size: int = 64) -> float:
    """Training on n inputs like x: per step a timed forward and backward (times TRAIN_PER_GRAD) and the Python
    floor of a step, and after each epoch the evaluation of n_test inputs."""
    step = per_input(model, x, batch_size, grad=True) * TRAIN_PER_GRAD * min(batch_size, n) + STEP_OVERHEAD
    return epochs * (math.ceil(n / batch_size) * step + per_input(model, x, 512) * n_test)


def training(model, data, epochs: int, batch_size: int = 64) -> Estimate:
    """Training model (or a copy of its architecture) for epochs on data's train split."""
    x = data.inputs("train")
    n = len(x)
    sec = train_seconds(model, x, n, epochs, len(data.inputs("test")), batch_size)
    return Estimate(sec, 4 * param_bytes(model) + batch_size * 3 * activation_bytes(model, x),
                    f"{epochs} epochs on {n:,} inputs")


def checkpoints(session, count: int, split: str, what: str) -> Estimate:
    """A forward over a split at each of count checkpoints (neural collapse, codes over training)."""
    x = session.data.inputs(split)
    return forwards(session, x, count, f"{what} at {count} checkpoints")
