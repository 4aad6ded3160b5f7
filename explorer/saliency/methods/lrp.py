"""Layer-wise relevance propagation (Bach et al. 2015): epsilon and z+ rules, through zennit or our own rules."""
from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from ...layers import RELU_LIKE, apply_layer
from .attribution import Attribution, module_rules
from .util import run_model

RULES = ("epsilon", "zplus", "epsilon_plus")  # epsilon_plus: z+ on convolutions, epsilon on linear layers
BACKENDS = ("auto", "zennit", "own")
AFFINE = (nn.Conv2d, nn.Linear)
NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)  # epsilon rule without a z+ form
ACTIVATIONS = (*RELU_LIKE, nn.Sigmoid, nn.Tanh)  # relevance passes through unchanged (zennit's Pass)
GRADIENT = (nn.Flatten, nn.Dropout, nn.Identity, nn.MaxPool2d)  # the plain gradient (max-pool: winner takes all)


def stabilize(z: torch.Tensor, eps: float) -> torch.Tensor:
    """z + eps * sign(z), with sign(0) = +1 (zennit's stabiliser)."""
    return z + ((z == 0).to(z) + z.sign()) * eps


def _vjp(fn, x, s):
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        (c,) = torch.autograd.grad(fn(xx), xx, s)
    return c


def _layer(m, weight_mod=None):
    """x -> the layer's output, with its weight and bias changed by weight_mod (for z+)."""
    w, b = m.weight, m.bias
    if weight_mod is not None:
        w, b = weight_mod(w), None if b is None else weight_mod(b)
    if isinstance(m, nn.Conv2d):
        return lambda x: apply_layer(m, x, w, b)
    return lambda x: nn.functional.linear(x, w, b)


class _Relevance(torch.autograd.Function):
    """Forward: the layer's output z; backward: the input relevance from the output relevance g."""

    @staticmethod
    def forward(ctx, x, z, module, rule, eps):
        ctx.save_for_backward(x, z)
        ctx.module, ctx.rule, ctx.eps = module, rule, eps
        return z.detach().clone()

    @staticmethod
    def backward(ctx, g):
        x, z = ctx.saved_tensors
        m, eps = ctx.module, ctx.eps
        zplus = isinstance(m, AFFINE) and (ctx.rule == "zplus" or (ctx.rule == "epsilon_plus" and
                                                                 isinstance(m, nn.Conv2d)))
        if not zplus:  # epsilon: R_in = x * W^T (R / stab(z))
            return x * _vjp(m.forward, x, g / stabilize(z, eps)), None, None, None, None
        # z+ (zennit's ZPlus): x+ w+ (with the positive bias) + x- w-
        pos, neg = _layer(m, lambda p: p.clamp_min(0)), _layer(m, lambda p: p.clamp_max(0))
        xp, xn = x.clamp_min(0), x.clamp_max(0)
        zz = pos(xp) + neg(xn) - (0 if m.bias is None else m.bias.clamp_max(0).view(-1, *[1] * (z.ndim - 2)))
        s = g / stabilize(zz, eps)
        return xp * _vjp(pos, xp, s) + xn * _vjp(neg, xn, s), None, None, None, None


class _Pass(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, y):
        return y.detach().clone()

    @staticmethod
    def backward(ctx, g):
        return g, None


def check_layers(model: nn.Module, sequential: bool) -> None:
    """A clear error for a layer type with no rule (and, for our rules, unless the model is a nested Sequential)."""
    for name, m in model.named_modules():
        leaf = not any(True for _ in m.children())
        if sequential and not leaf and not isinstance(m, nn.Sequential):
            raise ValueError(f"our LRP runs on nn.Sequential models; {name or 'the model'!r} "
                             f"({type(m).__name__}) has its own forward (residual adds, functional ops have no rule): "
                             "install zennit (pip install zennit) for other models")
        if leaf and not isinstance(m, (*AFFINE, *NORM, *ACTIVATIONS, *GRADIENT)):
            raise ValueError(f"LRP has no rule for layer {name!r} ({type(m).__name__}); rules exist for "
                             f"{', '.join(c.__name__ for c in (*AFFINE, *NORM))}, activations, "
                             f"{', '.join(c.__name__ for c in GRADIENT)}")


@contextlib.contextmanager
def lrp_rules(model: nn.Module, rule: str, eps: float):
    """Our LRP rules on the model's layers for the block; hooks removed on exit."""
    check_layers(model, sequential=True)
    handles = []

    def hook(m, inputs, output):
        return _Relevance.apply(inputs[0], output, m, rule, eps)

    try:
        for m in model.modules():
            if isinstance(m, (*AFFINE, *NORM)):
                handles.append(m.register_forward_hook(hook))
        with module_rules(model, ACTIVATIONS, lambda m, z, y: _Pass.apply(z, y)):
            yield
    finally:
        for h in handles:
            h.remove()


def zennit_rules(model: nn.Module, rule: str, eps: float):
    """zennit's composite for the rule (BatchNorm merged by a canonizer) on the given model: a context manager."""
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon, ZPlus
    from zennit.torchvision import ResNetCanonizer
    from zennit.types import Convolution

    check_layers(model, sequential=False)
    conv = Epsilon(epsilon=eps) if rule == "epsilon" else ZPlus(stabilizer=eps)
    lin = ZPlus(stabilizer=eps) if rule == "zplus" else Epsilon(epsilon=eps)
    is_resnet = type(model).__name__ == "ResNet"
    canon = [ResNetCanonizer() if is_resnet else SequentialMergeBatchNorm()]
    layer_map = layer_map_base(eps) + [(Convolution, conv), (nn.Linear, lin)]
    return LayerMapComposite(layer_map=layer_map, canonizers=canon).context(model)


def _has_zennit() -> bool:
    try:
        import zennit  # noqa: F401
    except ImportError:
        return False
    return True


class LRP(Attribution):
    """LRP with the epsilon, z+ or epsilon-plus rule; relevance starts at the target logit (sum ~ S_t(x), as
    Captum). backend 'auto': zennit when installed (any model its canonizers handle, on a copy of the model),
    else ours (nn.Sequential CNNs; BatchNorm and average pooling by the epsilon rule, activations pass)."""
    name = "LRP"
    family = "Relevance"
    choices = {"rule": RULES, "backend": BACKENDS}
    ranges = {"eps": (1e-6, 1.0, 0.01)}  # eps = 0 divides by a layer output that is exactly 0 (a dead channel)
    nonfinite_hint = "the rules divide by a layer's output plus eps, and some output is exactly 0: choose eps > 0"

    def __init__(self, rule: str = "epsilon", eps: float = 1e-6, backend: str = "auto"):
        self.layers = None
        self.rule = rule
        self.eps = eps
        self.backend = backend

    def attribute(self, model, x, resolve):
        if self.rule not in RULES:
            raise ValueError(f"unknown LRP rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown LRP backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        use_zennit = self.backend == "zennit" or (self.backend == "auto" and _has_zennit())
        if use_zennit:
            model = copy.deepcopy(model)  # canonizers rewrite weights and zennit dislikes in-place ReLUs
            for m in model.modules():
                if hasattr(m, "inplace"):
                    m.inplace = False
            rules = zennit_rules(model, self.rule, self.eps)
        else:
            rules = lrp_rules(model, self.rule, self.eps)
        with torch.enable_grad(), rules:
            xg = x.detach().requires_grad_(True)
            logits = run_model(model, xg)
            t = resolve(logits.detach())
            start = torch.zeros_like(logits).scatter_(1, t[:, None], logits.detach().gather(1, t[:, None]))
            (r,) = torch.autograd.grad(logits, xg, start)
        return r
