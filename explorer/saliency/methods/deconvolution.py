"""Deconvolution (Zeiler and Fergus 2014): at each ReLU the positive part of the gradient, ignoring the forward."""
from .guided_backprop import GuidedBackprop


class Deconvolution(GuidedBackprop):
    """Deconvolution: the input gradient with ReLU(g_out) at every nn.ReLU (as Captum); can still be negative."""
    name = "Deconvolution"
    guided = False
