"""Deconvolution (Zeiler and Fergus 2014): at each ReLU the positive part of the gradient, ignoring the forward."""
from .attribution import Attribution, input_grad
from .guided_backprop import relu_rules


class Deconvolution(Attribution):
    """Deconvolution: the input gradient with ReLU(g_out) at every nn.ReLU (as Captum); can still be negative."""
    name = "Deconvolution"
    family = "Backprop"

    def attribute(self, model, x, resolve):
        from torch import nn

        from .fallback import RELU_FUNCTIONS, warn_if_functional

        warn_if_functional(self, model, x, (nn.ReLU,), RELU_FUNCTIONS, "ReLU rule")  # F.relu: the gradient
        return input_grad(model, x, resolve, lambda: relu_rules(model, guided=False))

    def reduce(self, attr):
        return attr.abs().amax(1)
