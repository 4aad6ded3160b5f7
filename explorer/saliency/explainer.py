"""Live use: keep the last forward's graph so a class switch is one autograd.grad, not a new forward."""
from __future__ import annotations

import torch
from torch import nn

from .base import Saliency, check_input


def make_method(name: str, layers=None, **params) -> Saliency:
    """A registered method by name, e.g. make_method('Grad-CAM', 'conv3'); the error lists the valid names."""
    from . import METHODS

    if name not in METHODS:
        raise KeyError(f"unknown saliency method {name!r}; choose one of {', '.join(METHODS)}")
    cls = METHODS[name]
    if cls.needs_layer:
        return cls(layers, **params)
    if layers is not None:
        raise ValueError(f"{name} explains the input and takes no layer; got layers={layers!r}")
    return cls(**params)


def explain(model: nn.Module, x, method: str = "Grad-CAM", layers=None, targets="predicted", labels=None,
            raw: bool = False, **params) -> torch.Tensor:
    """One-shot maps (N, H, W) in [0, 1] for a registered method."""
    return make_method(method, layers, **params)(model, x, targets, labels, raw)


def _weights_token(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is modified in place (training, loading)."""
    return (id(model), tuple(t._version for t in model.parameters()), tuple(t._version for t in model.buffers()))


class Explainer:
    """Maps for one model and method, reusing the last forward (graph kept) while images, layers and weights stay.

    A target switch then costs one targeted autograd.grad with retain_graph; methods with their own
    forward passes (SmoothGrad, integrated gradients, Smooth Grad-CAM++) recompute. clear() frees the graph.
    """

    def __init__(self, model: nn.Module, method: Saliency):
        self.model = model
        self.method = method
        self.forwards = 0  # forward passes run by this explainer (for tests and the panel's status)
        self._key = self._fw = self._x = self._x_version = None

    def __call__(self, x: torch.Tensor, targets="predicted", labels=None, raw: bool = False) -> torch.Tensor:
        """Maps (N, H, W) for the targets; a new forward only when images, method, layers or weights changed."""
        if not isinstance(x, torch.Tensor):
            check_input(x)  # raises the clear error
        if not self.method.reusable:
            self.forwards += 1
            return self.method(self.model, x, targets, labels, raw)
        key = (_weights_token(self.model), repr(self.method.layers), tuple(x.shape), x.dtype, x.device)
        same = self._fw is not None and key == self._key and (
            (self._x is x and self._x_version == x._version)  # the same tensor, unmodified: skip comparing pixels
            or torch.equal(self._fw.x.detach(), x.to(self._fw.x.device)))
        if not same:
            self._fw = None  # free the old graph before building the next
            self._fw = self.method.forward(self.model, x)
            self._key = key
            self.forwards += 1
        self._x, self._x_version = x, x._version
        return self.method.explain(self._fw, targets, labels, raw)

    def logits(self) -> torch.Tensor | None:
        """Logits of the kept forward (detached), e.g. to offer classes by score."""
        return None if self._fw is None else self._fw.logits.detach()

    def clear(self) -> None:
        """Drop the kept graph and activations."""
        self._fw = self._key = self._x = self._x_version = None
