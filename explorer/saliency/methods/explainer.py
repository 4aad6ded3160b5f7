"""Live use: keep the last forward's graph so a class switch is one autograd.grad, not a new forward."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ...weights import weights_token
from .base import Forward, Saliency, check_finite, check_input
from .registry import METHODS


def make_method(name: str, layers=None, **params) -> Saliency:
    """A registered method by name, e.g. make_method('Grad-CAM', 'conv3'); the error lists the valid names."""
    if name not in METHODS:
        raise KeyError(f"unknown saliency method {name!r}; choose one of {', '.join(METHODS)}")
    cls = METHODS[name]
    if cls.needs_layer:
        return cls(layers, **params)
    if layers is not None:
        raise ValueError(f"{name} explains the input and takes no layer; got layers={layers!r}")
    return cls(**params)


def named_methods(methods) -> dict:
    """{display name: method instance} from names, instances or a dict."""
    if isinstance(methods, dict):
        return dict(methods)
    out = {}
    for m in methods:
        if isinstance(m, str):
            out[m] = make_method(m)
        else:
            out[m.name or type(m).__name__] = m
    return out


def explain(model: nn.Module, x, method: str = "Grad-CAM", layers=None, targets="predicted", labels=None,
            raw: bool = False, **params) -> torch.Tensor:
    """One-shot maps (N, H, W) in [0, 1] for a registered method."""
    return make_method(method, layers, **params)(model, x, targets, labels, raw)


class KeptForwards:
    """The last few forwards (graph kept), shared by Explainers of one model: methods that need the same forward
    (same layers, same recorded inputs) reuse it, so a method switch on one layer runs no forward pass either."""

    def __init__(self, size: int = 1):
        self.size = size
        self.runs = 0  # forward passes run
        self._kept: OrderedDict = OrderedDict()  # (key, id) -> (Forward, x, x version)

    def get(self, model: nn.Module, method: Saliency, x: torch.Tensor) -> tuple[Forward, bool]:
        """The kept forward for these images, method's layers and the current weights, or a new one; (fw, is_new)."""
        key = (weights_token(model), method.forward_key(model, x), tuple(x.shape), x.dtype, x.device)
        for (k, _), (fw, seen, version) in self._kept.items():
            if k == key and ((seen is x and version == x._version)  # the same tensor, unmodified: no pixel compare
                             or torch.equal(fw.x.detach(), x.to(fw.x.device))):
                return fw, False
        while len(self._kept) >= max(self.size, 1):
            self._kept.popitem(last=False)  # free the oldest graph before building the next
        fw = method.forward(model, x)
        self.runs += 1
        self._kept[(key, self.runs)] = (fw, x, x._version)
        return fw, True

    def clear(self) -> None:
        """Drop every kept graph and activation."""
        self._kept.clear()


class Explainer:
    """Maps for one model and method, reusing a kept forward (graph kept) while images, layers and weights stay.

    A target switch then costs one targeted autograd.grad with retain_graph; methods with their own
    forward passes (SmoothGrad, integrated gradients, Smooth Grad-CAM++) recompute. Explainers given one
    KeptForwards share it across methods. clear() frees the kept graphs.
    """

    def __init__(self, model: nn.Module, method: Saliency, kept: KeptForwards | None = None):
        self.model = model
        self.method = method
        self.kept = kept if kept is not None else KeptForwards()
        self.forwards = 0  # forward passes run by this explainer (for tests and the panel's status)
        self._fw = None

    def __call__(self, x: torch.Tensor, targets="predicted", labels=None, raw: bool = False) -> torch.Tensor:
        """Maps (N, H, W) for the targets; a new forward only when images, layers or weights changed."""
        if not isinstance(x, torch.Tensor):
            check_input(x)  # raises the clear error
        if not self.method.reusable:
            self.forwards += 1
            return self.method(self.model, x, targets, labels, raw)
        self._fw, new = self.kept.get(self.model, self.method, x)
        self.forwards += new
        return check_finite(self.method.explain(self._fw, targets, labels, raw), self.method)

    def logits(self) -> torch.Tensor | None:
        """Logits of the last forward used (detached), e.g. to offer classes by score."""
        if self._fw is None or not isinstance(self._fw.logits, torch.Tensor):  # none yet, or a dict, detections
            return None
        return self._fw.logits.detach()

    def clear(self) -> None:
        """Drop the kept graphs and activations (of every Explainer sharing them)."""
        self._fw = None
        self.kept.clear()
