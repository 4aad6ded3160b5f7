"""Forward hooks that record activations (and ReLU pre-activations) inside a `with` block."""
from __future__ import annotations

import contextlib
import difflib
from collections import defaultdict

import torch
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


def relu_layers(model: nn.Module) -> list[str]:
    """Names of the ReLU-like modules; a clear error if there are none."""
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
    modules = dict(model.named_modules())
    out = {}
    for name in layers:
        m = modules.get(name)
        ok = m is not None and (kind is None or (isinstance(m, KINDS[kind]) if kind in KINDS else
                                                 bool(name) and not any(True for _ in m.children())))
        if not ok:
            valid = find_layers(model, kind or "all")  # only on the error path: it walks the model again
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


class Record:
    """Activations recorded by capture(): one entry per call, so a module used twice has two."""

    def __init__(self):
        self.outputs: dict[str, list] = defaultdict(list)
        self.preacts: dict[str, list[torch.Tensor]] = defaultdict(list)

    def output(self, name: str, call: int = -1):
        """A layer's output at one call (the last by default)."""
        return self._get(self.outputs, name, call)

    def pre(self, name: str, call: int = -1) -> torch.Tensor:
        """A ReLU-like layer's input (pre-activation) at one call (the last by default)."""
        return self._get(self.preacts, name, call)

    def calls(self, name: str) -> int:
        """How many times the layer ran while recording."""
        return len(self.outputs.get(name, ()))

    def __getitem__(self, name: str):
        return self.output(name)

    def clear(self) -> None:
        """Forget what was recorded (between forward passes)."""
        self.outputs.clear()
        self.preacts.clear()

    @staticmethod
    def _get(store, name, call):
        if name not in store or not store[name]:
            seen = ", ".join(store) or "nothing (no forward pass yet?)"
            raise KeyError(f"nothing recorded for {name!r}; recorded: {seen}")
        return store[name][call]


def _keep(t, keep_graph: bool):
    """What to record: a clone (so later in-place ops cannot change it), detached unless keep_graph."""
    if not isinstance(t, torch.Tensor):
        return t
    return t if keep_graph else t.detach().clone()


@contextlib.contextmanager
def capture(model: nn.Module, layers, keep_graph: bool = False):
    """Record the outputs of `layers` (names) and, for ReLU-like ones, their inputs, during forward passes.

    keep_graph=False records detached copies. keep_graph=True records the graph's own tensors, so
    torch.autograd.grad(score, record.output(name)) works; the model then sees a copy of each recorded
    tensor, which keeps a following in-place ReLU from rewriting what was recorded.
    Hooks are removed on exit, even after an error; the model's mode and weights are never touched.
    """
    mods = resolve(model, layers)
    record = Record()
    handles = []

    def on_output(name):
        def hook(module, inputs, output):
            record.outputs[name].append(_keep(output, keep_graph))
            if keep_graph and isinstance(output, torch.Tensor):
                return output.clone()
        return hook

    def on_input(name):
        def hook(module, inputs):
            x = inputs[0]
            record.preacts[name].append(_keep(x, keep_graph))
            if keep_graph and isinstance(x, torch.Tensor) and getattr(module, "inplace", False):
                return (x.clone(),) + tuple(inputs[1:])
        return hook

    try:
        for name, mod in mods.items():
            if isinstance(mod, RELU_LIKE):
                handles.append(mod.register_forward_pre_hook(on_input(name)))
            handles.append(mod.register_forward_hook(on_output(name)))
        yield record
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Put the model in eval mode for the block, then restore every module's own mode."""
    modes = [(m, m.training) for m in model.modules()]
    if not any(mode for _, mode in modes):  # already in eval mode (the usual case): nothing to set or restore
        yield model
        return
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
