"""A model's layers by name: find them by kind, resolve names to modules with errors that list the valid ones; run a
Conv or Linear layer with other weights."""
from __future__ import annotations

import difflib

import torch
import torch.nn.functional as F
from torch import nn

# Modules whose output is f(pre-activation) elementwise, with a sign that marks "on" (pre-activation > 0).
RELU_LIKE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
             nn.SiLU, nn.Mish, nn.Softplus, nn.Hardswish, nn.Hardsigmoid)
CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
KINDS = {"conv": CONV, "relu": RELU_LIKE, "linear": (nn.Linear,)}


def find_layers(model: nn.Module, kind: str = "all") -> list[str]:
    """Names of the model's layers of a kind: 'conv', 'relu' (ReLU-like), 'linear' or 'all' (every leaf)."""
    if kind == "all":
        return [n for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; choose one of all, {', '.join(KINDS)}")
    return [n for n, m in model.named_modules() if n and isinstance(m, KINDS[kind])]


def relu_layers(model: nn.Module, layers=None) -> list[str]:
    """The ReLU-like modules named in `layers` (a name or several; default all of them), once each, in the model's
    order; a clear error for a name that is not one, or for a model without any."""
    if layers is not None:
        names = list(resolve(model, [layers] if isinstance(layers, str) else list(layers), kind="relu"))
        order = {n: i for i, (n, _) in enumerate(model.named_modules())}
        return sorted(dict.fromkeys(names), key=lambda n: order.get(n, len(order)))  # a second name: last
    names = find_layers(model, "relu")
    if not names:
        kinds = ", ".join(c.__name__ for c in RELU_LIKE[:6])
        raise ValueError(f"{type(model).__name__} has no ReLU-like module ({kinds}, ...); activations applied "
                         "with torch.nn.functional (F.relu) cannot be hooked, use nn.ReLU modules")
    return names


def resolve(model: nn.Module, layers, kind: str | None = None) -> dict[str, nn.Module]:
    """Map layer names to modules, with an error that names the valid choices (of `kind`, if given)."""
    if isinstance(layers, str):
        layers = [layers]
    if kind not in (None, "all", *KINDS):
        find_layers(model, kind)  # raises: names the kinds
    try:  # each name a submodule's path: found in O(depth), where named_modules() walks (and names) every module
        modules = {name: model.get_submodule(name) for name in layers}
    except (AttributeError, TypeError):
        modules = dict(model.named_modules())
    out = {}
    for name in layers:
        m = modules.get(name)
        ok = m is not None and (kind is None or (isinstance(m, KINDS[kind]) if kind in KINDS else
                                                 bool(name) and not any(True for _ in m.children())))
        if not ok:
            modules = dict(model.named_modules())  # only on the error path: it walks the model again
            valid = find_layers(model, kind or "all")
            near = difflib.get_close_matches(str(name), valid, n=3)
            what = f"{kind} layer" if kind else "layer"
            is_other = name in modules and kind is not None
            why = f"{name!r} is a {type(modules[name]).__name__}, not a {what}" if is_other else \
                f"no {what} named {name!r}"
            hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
            raise KeyError(f"{why}{hint}; valid choices: {', '.join(valid) or 'none'}")
        out[name] = modules[name]
    if not out:
        raise ValueError("no layers given")
    return out


CONV_FUNCTIONS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}  # by the number of spatial dimensions


def apply_layer(m: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The Linear or Conv layer m on x with another weight and bias (stride, padding and its mode, dilation and
    groups are m's own): what the module computes, through torch.nn.functional only."""
    if isinstance(m, nn.Linear):
        return F.linear(x, weight, bias)
    if not isinstance(m, CONV):
        raise TypeError(f"apply_layer takes a Linear or Conv1d/2d/3d layer; got {type(m).__name__}")
    conv = CONV_FUNCTIONS[len(m.kernel_size)]
    if m.padding_mode == "zeros":
        return conv(x, weight, bias, m.stride, m.padding, m.dilation, m.groups)
    return conv(F.pad(x, _pad_widths(m), mode=m.padding_mode), weight, bias, m.stride, 0, m.dilation, m.groups)


def _pad_widths(m: nn.Module) -> list[int]:
    """F.pad's widths (last dimension first, before then after) for a conv's padding: numbers, 'valid' or 'same'
    (total d (k - 1), the odd one after, as torch's Conv pads for a padding_mode other than zeros)."""
    widths = []
    for i in reversed(range(len(m.kernel_size))):
        if m.padding == "valid":
            widths += [0, 0]
        elif m.padding == "same":
            total = m.dilation[i] * (m.kernel_size[i] - 1)
            widths += [total // 2, total - total // 2]
        else:
            widths += [m.padding[i], m.padding[i]]
    return widths
