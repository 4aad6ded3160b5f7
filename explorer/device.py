"""The one place that probes hardware: pick a torch device."""
import os

import torch

ENV_VAR = "EXPLORER_DEVICE"
CHOICES = ("auto", "cuda", "mps", "cpu")


def pick_device(prefer: str | None = None) -> torch.device:
    """Device by argument, then $EXPLORER_DEVICE, then CUDA, Apple MPS, CPU."""
    choice = (prefer or os.environ.get(ENV_VAR) or "auto").lower()
    base = choice.split(":")[0]
    if base not in CHOICES:
        raise ValueError(f"unknown device {choice!r}; choose one of {', '.join(CHOICES)} (e.g. 'cuda:1')")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"device {choice!r} asked for, but Apple MPS is not available here; use 'cpu' or 'auto'")
    return torch.device(choice)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a parameterless model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")
