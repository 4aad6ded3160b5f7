"""Forward hooks that record activations (and ReLU pre-activations) inside a `with` block."""
from __future__ import annotations

import contextlib
from collections import defaultdict

import torch
from torch import nn

from .layers import CONV, KINDS, RELU_LIKE, find_layers, relu_layers, resolve  # noqa: F401 - kept importable here


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


class Enough(Exception):
    """Raised by stop_after()'s hook once the layer has run often enough: the rest of the forward is skipped."""


@contextlib.contextmanager
def stop_after(model: nn.Module, layer: str, calls: int = 1):
    """End a forward pass once `layer` has run `calls` times (enter it after capture(), whose hook then records the
    output first): what the layers above would compute is skipped, and the block ends there without error."""
    (mod,) = resolve(model, [layer]).values()
    seen = [0]

    def hook(module, inputs, output):
        seen[0] += 1
        if seen[0] >= calls:
            raise Enough

    handle = mod.register_forward_hook(hook)
    try:
        yield
    except Enough:
        pass
    finally:
        handle.remove()


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
