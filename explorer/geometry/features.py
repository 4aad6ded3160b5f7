"""Layer outputs over a dataset (the part of the geometry lab that runs the model), and default layer choices."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..capture import capture, eval_mode
from ..device import model_device
from ..layers import resolve


def call_counts(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """How often each named module runs in one forward pass on x[:1]."""
    counts = {n: 0 for n, _ in model.named_modules()}
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: counts.__setitem__(n, counts[n] + 1))
               for n, m in model.named_modules()]
    try:
        with torch.no_grad(), eval_mode(model):
            model(x[:1].to(model_device(model)))
    finally:
        for h in handles:
            h.remove()
    return counts


def stages(model: nn.Module, x: torch.Tensor) -> list[str]:
    """The deepest modules run once each that cover the model: leaves, or a block (a residual one) whose
    parts run more than once (resnet18: conv1, bn1, relu, maxpool, layer1.0, ..., layer4.1, avgpool, fc)."""
    counts = call_counts(model, x)

    def walk(prefix: str, m: nn.Module) -> list[str] | None:
        kids = list(m.named_children())
        if not kids:
            return [prefix] if counts[prefix] == 1 else None
        parts = [walk(f"{prefix}.{n}" if prefix else n, c) for n, c in kids
                 if counts[f"{prefix}.{n}" if prefix else n]]
        if all(p is not None for p in parts):
            return [n for p in parts for n in p]
        return [prefix] if counts[prefix] == 1 and prefix else None

    found = walk("", model)
    if not found:
        raise ValueError(f"{type(model).__name__}: no modules that run once each cover it; name the layers")
    return found


def last_linear(model: nn.Module) -> str:
    """The name of the last nn.Linear (the classifier); ValueError if there is none."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier: name the layers to use")
    return names[-1]


@contextlib.contextmanager
def _record_inputs(model: nn.Module, names: list[str], store: dict):
    """Record the first input of each named module (e.g. the classifier's features), hooks removed on exit."""
    mods = resolve(model, names)
    handles = [m.register_forward_pre_hook(lambda mod, inp, n=n: store[n].append(inp[0].detach().flatten(1)
                                                                                  .float().cpu()))
               for n, m in mods.items()]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def layer_outputs(model: nn.Module, x: torch.Tensor, layers, inputs_of=(), batch_size: int = 256,
                  flatten: bool = True, progress=None) -> dict[str, torch.Tensor]:
    """Outputs of `layers` (flattened to (N, -1) float32 on the CPU unless flatten=False; a module run several
    times gives its last call), plus the inputs of the modules `inputs_of` under the key 'name:input'."""
    if len(x) == 0:
        raise ValueError("no inputs")
    if not torch.isfinite(x).all():
        raise ValueError("the inputs contain NaN or inf")
    layers, inputs_of = list(layers), list(inputs_of)
    device = model_device(model)
    out: dict[str, list] = {n: [] for n in layers}
    ins: dict[str, list] = {n: [] for n in inputs_of}
    with torch.no_grad(), eval_mode(model), contextlib.ExitStack() as stack:
        rec = stack.enter_context(capture(model, layers)) if layers else None
        if inputs_of:
            stack.enter_context(_record_inputs(model, inputs_of, ins))
        for i in range(0, len(x), batch_size):
            if rec is not None:
                rec.clear()
            model(x[i:i + batch_size].to(device))
            for n in layers:
                t = rec.output(n).float().cpu()
                out[n].append(t.flatten(1) if flatten else t)
            if progress:
                progress(min(i + batch_size, len(x)), len(x), {"inputs": len(x)})
    feats = {n: torch.cat(v) for n, v in out.items()}
    feats.update({f"{n}:input": torch.cat(v) for n, v in ins.items()})
    return feats
