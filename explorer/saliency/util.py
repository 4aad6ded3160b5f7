"""Shared checks and map operations: input and target validation, min-max normalisation, bilinear resize."""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-7  # as pytorch-grad-cam's scale_cam_image


def normalize(maps: torch.Tensor) -> torch.Tensor:
    """Per-image min-max to [0, 1]: (N, H, W) -> (N, H, W); an all-constant map becomes 0."""
    flat = maps.flatten(1)
    lo, hi = torch.aminmax(flat, dim=1)  # one pass over the maps
    return ((flat - lo[:, None]) / (hi - lo + EPS)[:, None]).view_as(maps)


def upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """Bilinear (half-pixel centres, as cv2 INTER_LINEAR) resize of (N, h, w) maps to size (H, W)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def check_input(x) -> torch.Tensor:
    """An (N, C, H, W) float tensor without NaN, or a clear ValueError."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor of shape (N, C, H, W); got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W); got {tuple(x.shape)} (add a batch axis with x[None])")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or infinite values")
    return x.detach().float() if not x.is_floating_point() else x.detach()


def run_model(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits (N, K) of a forward pass; a shape error from inside the model becomes a ValueError."""
    try:
        out = model(x)
    except RuntimeError as err:
        if "shape" in str(err) or "size" in str(err) or "channels" in str(err):
            raise ValueError(f"the model cannot run on images of shape {tuple(x.shape)}: {err}") from err
        raise
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ValueError(f"the model must return logits of shape (N, classes); got {getattr(out, 'shape', out)!r}")
    return out


def resolve_targets(targets, logits: torch.Tensor, labels=None) -> torch.Tensor:
    """One class per image (N,) from 'predicted', 'true' (with labels), an int, or a length-N list/tensor."""
    n, k = logits.shape
    if isinstance(targets, str):
        if targets == "predicted":
            return logits.detach().argmax(1)
        if targets == "true":
            if labels is None:
                raise ValueError("targets='true' needs labels=")
            targets = labels
        else:
            raise ValueError(f"unknown target {targets!r}; use 'predicted', 'true', a class index or one per image")
    t = torch.as_tensor(targets, device=logits.device)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices; got dtype {t.dtype}")
    t = t.long()
    if t.ndim == 0:
        t = t.expand(n)
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"need one target per image: {n} images but targets of shape {tuple(t.shape)}")
    if len(t) and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"target class out of range: got {t.min().item()}..{t.max().item()}, valid 0..{k - 1}")
    return t


@contextlib.contextmanager
def record_inputs(modules: dict[str, nn.Module]):
    """Record each module's input (graph kept) during the block: {name: tensor}; hooks removed on exit."""
    seen, handles = {}, []
    try:
        for name, m in modules.items():
            handles.append(m.register_forward_pre_hook(lambda mod, inp, name=name: seen.__setitem__(name, inp[0])))
        yield seen
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def grad_from(modules: dict[str, nn.Module]):
    """Run under no_grad and switch grad on at the first of `modules` to run: only the graph from that layer to
    the logits is built (faster, and a kept graph holds only what a class switch needs); hooks removed on exit."""
    def start(module, inputs, output):
        if isinstance(output, torch.Tensor) and not torch.is_grad_enabled():
            torch.set_grad_enabled(True)  # the outer no_grad() restores the mode on exit, even after an error
            return output.detach().requires_grad_(True)
        return None

    handles = []
    try:
        with torch.no_grad():
            handles = [m.register_forward_hook(start) for m in modules.values()]
            yield
    finally:
        for h in handles:
            h.remove()
