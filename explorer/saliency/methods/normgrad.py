"""NormGrad: per-location product of gradient and activation norms (Rebuffi et al. 2020)."""

import torch.nn.functional as F
from torch import nn

from .base import CAM

FORMS = ("identity", "conv", "selective")


class NormGrad(CAM):
    """NormGrad: 'identity' ||g_u|| ||A_u|| (1x1 virtual identity), 'conv' ||g_u|| ||unfold_k(A_in)_u|| (the
    layer's own k x k conv), 'selective' ||ReLU(A_u * g_u)||; several layers multiply their normalised maps."""
    name = "NormGrad"
    family = "CAM"
    choices = {"form": FORMS}  # the panel offers these
    fuse = "product"

    def __init__(self, layers=None, form: str = "identity"):
        self.layers = layers
        self.form = form

    def layer_names(self, model, x=None):
        if self.form not in FORMS:
            raise ValueError(f"unknown NormGrad form {self.form!r}; choose one of {', '.join(FORMS)}")
        names = super().layer_names(model, x)
        mods = dict(model.named_modules())
        bad = [n for n in names if self.form == "conv" and not isinstance(mods[n], nn.Conv2d)]
        if bad:
            raise ValueError(f"NormGrad form 'conv' needs Conv2d layers; {', '.join(bad)} is not one")
        return names

    def _inputs(self, model, names):
        mods = dict(model.named_modules())
        return {n: mods[n] for n in names} if self.form == "conv" else {}

    def combine(self, fw, name, acts, grads):  # -> (N, h, w)
        if self.form == "selective":
            return (acts * grads).clamp_min(0).norm(dim=1)
        if self.form == "identity":
            return grads.norm(dim=1) * acts.norm(dim=1)
        conv = dict(fw.model.named_modules())[name]
        if isinstance(conv.padding, str):
            # 'same' padding (odd kernels)
            pad = tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))
        else:
            pad = conv.padding
        cols = F.unfold(fw.inputs[name].detach(), conv.kernel_size, conv.dilation, pad, conv.stride)  # (N, C k k, L)
        return grads.norm(dim=1) * cols.norm(dim=1).view_as(grads[:, 0])


