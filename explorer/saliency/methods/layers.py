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

from ...capture import eval_mode
from ...device import model_device

MAX_PREFIX = 8  # class, distillation and register tokens before the patch grid
MAP_TOLERANCE = math.log(2)  # row stride / column stride of a conv map (odd sizes, padding): at most 2 : 1
TOKEN_TOLERANCE = math.log(1.5)  # the same for a token grid, stricter: a wrong prefix count gives a wrong grid


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
    """The grid of t tokens: h x w = t - prefix of the image's aspect ratio (the closest; then the fewest prefix)."""
    fits = [(_mismatch(h, (t - k) // h, size), k, h) for k in range(min(MAX_PREFIX, t - 4) + 1)
            for h in range(2, (t - k) // 2 + 1) if (t - k) % h == 0]
    if not fits or min(fits)[0] > TOKEN_TOLERANCE:
        return None
    _, k, h = min(fits)
    return Grid("tokens", channels, h, (t - k) // h, k)


def grid_of(shape, size) -> Grid | None:
    """How an output of `shape` reads as a map over images of size (H, W), or None (not a spatial output)."""
    shape = tuple(shape)
    if len(shape) == 4 and min(shape[1:]) > 0:
        first, last = _mismatch(shape[2], shape[3], size), _mismatch(shape[1], shape[2], size)
        if last < first and last <= MAP_TOLERANCE:  # channels last fits the image, channels first does not (Swin)
            return Grid("nhwc", shape[3], shape[1], shape[2])
        # (N, heads, tokens, dim) attention tensors do not fit the image either
        return Grid("nchw", *shape[1:]) if first <= MAP_TOLERANCE else None
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


def _probe(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, Grid], set[str], bool, int]:
    """({name: Grid} of every map-shaped output in the order the forward computes them, the names whose grid the
    logits depend on, whether the logits are flat: their gradient with respect to the image is zero): one forward of
    the first image (eval mode, hooks in a `with` block) and one targeted autograd.grad of a fixed random mix of the
    logits."""
    from .util import check_input, output_tensors, run_model

    x = check_input(x)[:1].to(model_device(model)).clone().requires_grad_(True)
    size = tuple(x.shape[-2:])
    with eval_mode(model), torch.enable_grad(), _record_all(model) as seen:
        outs = [t for t in output_tensors(run_model(model, x, any_output=True)) if t.requires_grad]  # logits, or a
        # segmentation dict, an embedding, detections: every differentiable output tensor
    scores = outs[0].shape[1] if outs and outs[0].ndim == 4 else 0  # a segmentation map's classes (0: none)
    grids = {n: g for n, t in seen.items() if (g := grid_of(t.shape, size)) is not None}
    wired = [n for n in grids if seen[n].requires_grad]
    if not outs:
        return grids, set(), False, scores
    gen = torch.Generator().manual_seed(0)
    # a random mix, not the sum: the sum of softmax outputs is constant and would have no gradient anywhere
    score = sum((t * torch.randn(t.shape[1:].numel(), generator=gen).view(t.shape[1:]).to(t)).sum() for t in outs)
    gx, *grads = torch.autograd.grad(score, [x] + [seen[n] for n in wired], allow_unused=True)
    flat = gx is None or not bool(gx.abs().amax() > 0)
    return (grids, {n for n, d in zip(wired, grads) if d is not None and bool(grids[n].to_map(d).abs().amax() > 0)},
            flat, scores)


def probe(model: nn.Module, x: torch.Tensor) -> dict[str, Grid]:
    """{name: Grid} of every module whose output is a map the logits depend on, in the order the forward computes
    them (the model unchanged). A token map counts only if its grid, not just its class token, reaches the logits."""
    grids, wired, _, _ = _probe(model, x)
    return {n: g for n, g in grids.items() if n in wired}


def resamples(module: nn.Module, grid: Grid) -> bool:
    """Whether a layer resamples its input to a fixed grid, whatever the image size: an adaptive pool to more than
    1 x 1 (VGG's avgpool to 7 x 7: the identity at 224 px, a resampling at 256) or an Upsample to a fixed size."""
    if isinstance(module, nn.Upsample):  # UpsamplingBilinear2d and UpsamplingNearest2d too
        return module.size is not None
    pools = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    return isinstance(module, pools) and grid.h * grid.w > 1  # global pooling (1 x 1) ends the maps instead


def spatial_layers(model: nn.Module, x: torch.Tensor, include_1x1: bool = False) -> list[str]:
    """Names of the modules (model order) whose output is a map on the path to the logits for images like x: a
    conv map (N, C, h, w), a channels-last map or a token grid; 1 x 1 maps (after global pooling) only if asked.
    One probing forward; the model is unchanged."""
    found = probe(model, x)
    return [n for n, _ in model.named_modules() if n in found and (include_1x1 or found[n].h * found[n].w > 1)]


def default_cam_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The last module the forward computes whose output is a map larger than 1 x 1 on the path to the logits,
    before any layer that resamples to a fixed grid (`resamples`), and as wide as the model's last map (resnet:
    'layer4', vgg: 'features', not its adaptive 'avgpool', at every image size; mobilenet: 'features', torchvision
    vit: the last block's 'ln_1', timm vit: 'blocks.11.norm1', not the wider qkv projection after it; swin:
    'permute'; LR-ASPP: 'classifier.cbr', not its class-score convs). A model whose logits do not change with the
    image (a head of zeros) gets an error that says so."""
    grids, wired, flat, scores = _probe(model, x)
    if scores:  # a segmentation model: not its class-score maps (the head's last convs), the features before them
        grids = {n: g for n, g in grids.items() if g.channels != scores} or grids
    big = [n for n, g in grids.items() if n in wired and g.h * g.w > 1]
    if not big and flat:
        raise ValueError(f"the logits of {type(model).__name__} are constant: their gradient with respect to the "
                         f"image is zero (e.g. a classifier head of zeros, as torchvision initialises a ViT's), so no "
                         f"layer has anything to explain; train the model or load its weights first")
    if not big:
        raise ValueError(f"{type(model).__name__} has no layer with a spatial output on the path to the logits (no "
                         f"conv map, channels-last map or token grid larger than 1 x 1 for images of shape "
                         f"{tuple(x.shape[1:])}); CAM methods need one: use an input-gradient method")
    mods, order = dict(model.named_modules()), list(grids)
    first = next((i for i, n in enumerate(order) if n in wired and resamples(mods[n], grids[n])), len(order))
    big = [n for n in big if order.index(n) < first] or big  # the maps before the resampling (if any)
    width = list(grids.values())[-1].channels  # the final features' width (ViT: the last norm; CNNs: the pooled map)
    return ([n for n in big if grids[n].channels == width] or big)[-1]


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
