"""Which layers a CAM can explain: modules whose output reads as an (N, C, h, w) map, found by one probing forward.

A layer's output is read as a map in one of three layouts: 'nchw' (convolutions), 'nhwc' (channels last: Swin) or
'tokens' (N, T, C) with T = prefix + h * w (ViT: the class token is the prefix), as pytorch-grad-cam's
`reshape_transform` does by hand. The grid is the one whose stride matches the image's aspect ratio.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..device import model_device
from ..train import eval_mode

MAX_PREFIX = 8  # class, distillation and register tokens before the patch grid
TOLERANCE = math.log(1.5)  # how far the row stride may be from the column stride (odd sizes, padding)


@dataclass(frozen=True)
class Grid:
    """How one layer's output reads as a map: its layout, channels, grid size and the prefix tokens dropped."""
    layout: str  # 'nchw', 'nhwc' or 'tokens'
    channels: int
    h: int
    w: int
    prefix: int = 0

    def to_map(self, t: torch.Tensor) -> torch.Tensor:
        """The layer's output as an (N, C, h, w) map."""
        if self.layout == "nhwc":
            return t.permute(0, 3, 1, 2)
        if self.layout == "tokens":  # (N, prefix + h w, C) -> (N, C, h, w), row-major tokens
            return t[:, self.prefix:].reshape(len(t), self.h, self.w, self.channels).permute(0, 3, 1, 2)
        return t

    def from_map(self, m: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Back to the layer's own layout: m (N, C, h, w), with the prefix tokens taken from t (the output)."""
        if self.layout == "nhwc":
            return m.permute(0, 2, 3, 1)
        if self.layout == "tokens":
            return torch.cat([t[:, :self.prefix], m.permute(0, 2, 3, 1).reshape(len(m), -1, self.channels)], 1)
        return m


def _mismatch(h: int, w: int, size) -> float:
    """|log| of the ratio of row to column stride of an h x w grid over an image of size (H, W): 0 if equal."""
    return abs(math.log((size[0] / h) / (size[1] / w)))


def _token_grid(t: int, channels: int, size) -> Grid | None:
    """The grid of t tokens: the fewest prefix tokens, then the h x w (h * w = t - prefix) of the image's aspect."""
    for prefix in range(min(MAX_PREFIX, t - 4) + 1):
        n = t - prefix
        best = min(((_mismatch(h, n // h, size), h) for h in range(2, n // 2 + 1) if n % h == 0), default=None)
        if best is not None and best[0] <= TOLERANCE:
            return Grid("tokens", channels, best[1], n // best[1], prefix)
    return None


def grid_of(shape, size) -> Grid | None:
    """How an output of `shape` reads as a map over images of size (H, W), or None (not a spatial output)."""
    shape = tuple(shape)
    if len(shape) == 4:
        _, c, h, w = shape
        if _mismatch(shape[1], shape[2], size) < _mismatch(h, w, size) and shape[1] > 1 and shape[2] > 1:
            return Grid("nhwc", shape[3], shape[1], shape[2])  # channels last fits the image, channels first not
        return Grid("nchw", c, h, w)
    if len(shape) == 3 and shape[1] >= 4:
        return _token_grid(shape[1], shape[2], size)
    return None


@contextlib.contextmanager
def _record_all(model: nn.Module):
    """Every named module's last output during the block, in the order the forward finished them."""
    seen: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(module, inputs, output):
            if isinstance(output, torch.Tensor):
                seen.pop(name, None)  # a module run twice counts at its last call, as capture() reads it
                seen[name] = output
        return record

    handles = []
    try:
        handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
        yield seen
    finally:
        for h in handles:
            h.remove()


def probe(model: nn.Module, x: torch.Tensor) -> dict[str, Grid]:
    """{name: Grid} of every module whose output is a map the logits depend on, in the order the forward computes
    them: one forward of the first image (eval mode, hooks in a `with` block) and one targeted autograd.grad of a
    fixed random mix of the logits. A token map counts only if the grid itself (not just its class token) matters.
    """
    from .util import check_input, run_model

    x = check_input(x)[:1].to(model_device(model)).clone().requires_grad_(True)
    size = tuple(x.shape[-2:])
    with eval_mode(model), torch.enable_grad(), _record_all(model) as seen:
        logits = run_model(model, x)
    grids = {n: g for n, t in seen.items() if t.requires_grad and (g := grid_of(t.shape, size)) is not None}
    if not grids or not logits.requires_grad:
        return {}
    mix = torch.randn(logits.shape[1], generator=torch.Generator().manual_seed(0)).to(logits)
    # a random mix, not the sum: the sum of softmax outputs is constant and would have no gradient anywhere
    grads = torch.autograd.grad((logits * mix).sum(), [seen[n] for n in grids], allow_unused=True)
    return {n: g for (n, g), d in zip(grids.items(), grads)
            if d is not None and bool(g.to_map(d).abs().amax() > 0)}


def spatial_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the modules (model order) whose output is an (N, C, h, w) map, channels-last map or token grid on
    the path to the logits, for images like x; the model is unchanged."""
    found = probe(model, x)
    order = [n for n, _ in model.named_modules() if n in found]
    return order


def default_cam_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The last module the forward computes whose output is a map larger than 1 x 1 on the path to the logits
    (resnet: 'layer4', vgg: 'avgpool', mobilenet: 'features', vit: its last block's 'ln_1', swin: 'permute')."""
    found = probe(model, x)
    big = [n for n, g in found.items() if g.h * g.w > 1]
    if not big:
        raise ValueError(f"{type(model).__name__} has no layer with a spatial output on the path to the logits (no "
                         f"conv map, channels-last map or token grid larger than 1 x 1 for images of shape "
                         f"{tuple(x.shape[1:])}); CAM methods need one: use an input-gradient method")
    return big[-1]


@contextlib.contextmanager
def as_maps(modules: dict[str, nn.Module], size, inner):
    """Enter `inner` (a context manager that registers hooks, as capture() does) with each module's output read as
    an (N, C, h, w) map: a hook before inner's turns it into a map, one after turns it back, so the model computes
    the same numbers and gradients reach the map. Yields (inner's value, {name: Grid or None})."""
    grids: dict[str, Grid | None] = {}
    pending: dict[str, torch.Tensor] = {}

    def to_map(name):
        def hook(module, inputs, output):
            grids[name] = g = grid_of(output.shape, size) if isinstance(output, torch.Tensor) else None
            if g is None or g.layout == "nchw":
                return None
            pending[name] = output
            return g.to_map(output)
        return hook

    def back(name):
        def hook(module, inputs, output):
            t = pending.pop(name, None)
            return None if t is None else grids[name].from_map(output, t)
        return hook

    handles = []
    try:
        handles += [m.register_forward_hook(to_map(n)) for n, m in modules.items()]
        with inner as value:
            handles += [m.register_forward_hook(back(n)) for n, m in modules.items()]
            yield value, grids
    finally:
        for h in handles:
            h.remove()
