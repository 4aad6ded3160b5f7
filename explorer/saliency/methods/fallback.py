"""Say when a method whose rules sit on modules meets nonlinearities applied as functions (F.relu, torch.sigmoid):
there its rule cannot be attached, those units pass the plain gradient and the method quietly becomes another."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .util import SaliencyNote, run_model

RELU_FUNCTIONS = (F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_)
NONLINEAR_FUNCTIONS = (*RELU_FUNCTIONS, F.relu6, F.leaky_relu, F.leaky_relu_, F.elu, F.elu_, F.selu, F.celu,
                       F.gelu, F.silu, F.mish, F.softplus, F.hardswish, F.hardsigmoid, F.prelu, F.rrelu,
                       torch.sigmoid, torch.tanh, F.sigmoid, F.tanh, torch.Tensor.sigmoid, torch.Tensor.tanh,
                       F.max_pool2d, F.max_pool2d_with_indices)


class FallbackWarning(SaliencyNote):
    """A saliency method fell back to the plain gradient at some units of the model (the panel can show it)."""


def functional_calls(model: nn.Module, x: torch.Tensor, handled: tuple, functions: tuple) -> list[str]:
    """Names of the `functions` that a one-image forward calls outside every module of the `handled` types."""
    from torch.overrides import TorchFunctionMode

    depth, seen = [0], []

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if depth[0] == 0 and func in functions:  # a handled module's own F.relu runs at depth 1
                seen.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    def enter(m, inputs):
        depth[0] += 1

    def leave(m, inputs, output):
        depth[0] -= 1

    handles = []
    try:
        for m in model.modules():
            if isinstance(m, handled):
                handles += [m.register_forward_pre_hook(enter), m.register_forward_hook(leave)]
        with torch.no_grad(), Watch():
            run_model(model, x[:1])
    finally:
        for h in handles:
            h.remove()
    return seen


def warn_if_functional(method, model: nn.Module, x: torch.Tensor, handled: tuple, functions: tuple,
                       rule: str) -> None:
    """A FallbackWarning note on the method's result (Saliency.note) when the model applies any of `functions`
    outside `handled` modules."""
    calls = functional_calls(model, x, handled, functions)
    if calls:
        names, name = ", ".join(sorted(set(calls))), method.name
        method.note(f"{type(model).__name__} applies {names} as a function ({len(calls)} calls outside modules), "
                    f"where {name}'s {rule} cannot be attached: there the plain gradient passes, so this map is partly "
                    f"the input gradient, not {name}. Build the model with modules (nn.ReLU(), ...) for the exact "
                    f"method.", FallbackWarning)
