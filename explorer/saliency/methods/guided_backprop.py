"""Guided backpropagation (Springenberg et al. 2015): at each ReLU only positive gradients flow back."""
import contextlib

import torch
from torch import nn

from .attribution import Attribution, input_grad, module_rules


class _DeconvReLU(torch.autograd.Function):
    """Forward: the ReLU's output y; backward: ReLU(g) straight to the ReLU's input z, whatever the sign of z."""

    @staticmethod
    def forward(ctx, z, y):
        return y.detach().clone()

    @staticmethod
    def backward(ctx, g):
        return g.clamp_min(0), None


def relu_rules(model, guided: bool):
    """Guided (or deconvolution) backward at every nn.ReLU module for the block; as Captum, F.relu is not seen (the
    methods warn: fallback.py)."""
    if guided:
        return clamped_relu_grads(model)
    return module_rules(model, (nn.ReLU,), lambda m, z, y: _DeconvReLU.apply(z, y))


@contextlib.contextmanager
def clamped_relu_grads(model):
    """For the block, the gradient reaching each nn.ReLU's output is clamped at 0 and the ReLU's own backward then
    masks it by z > 0: ReLU(g) * 1[z > 0], guided backpropagation, with no activation copied. A tensor hook registered
    before an in-place change still sees the gradient of the value it was registered on, so in-place and reused ReLUs
    are right (tests/saliency/test_attr_known.py)."""
    def clamp(module, inputs, y):
        if isinstance(y, torch.Tensor) and y.requires_grad:
            y.register_hook(lambda g: g.clamp_min(0))

    handles = [m.register_forward_hook(clamp) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class GuidedBackprop(Attribution):
    """Guided backpropagation: the input gradient with ReLU(g_out) * 1[z > 0] at every nn.ReLU (as Captum)."""
    name = "Guided backprop"
    family = "Backprop"
    guided = True  # False: deconvolution's rule (deconvolution.py)
    takes_targets = True  # its score goes through input_grad: a Target may say what to explain

    def attribute(self, model, x, resolve):
        from .fallback import RELU_FUNCTIONS, warn_if_functional

        warn_if_functional(self, model, x, (nn.ReLU,), RELU_FUNCTIONS, "ReLU rule")  # F.relu: plain gradient
        return input_grad(model, x, resolve, lambda: relu_rules(model, guided=self.guided))

    def reduce(self, attr):  # as the input gradient: max over channels of |.|
        return attr.abs().amax(1)
