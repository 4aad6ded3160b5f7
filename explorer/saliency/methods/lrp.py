"""Layer-wise relevance propagation (Bach et al. 2015): a rule per layer group (first layer, convolutions, dense
layers), zennit's named composites, by our own rules (explorer.saliency.methods.lrp_rules) or through zennit."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .attribution import Attribution
from .lrp_rules import COMPOSITES, RULES, own_rules, unsupported
from .util import run_model

# A preset names each group's rule: one rule everywhere, epsilon_plus (= EpsilonPlus) or a zennit composite
PRESETS = {"epsilon": (None, "epsilon", "epsilon"), "zplus": (None, "zplus", "zplus"),
           "epsilon_plus": (None, "zplus", "epsilon"), **COMPOSITES}
BACKENDS = ("auto", "own", "zennit")
GROUP = ("preset", *RULES)  # "preset": the rule the preset gives the group


def group_rules(rule: str, first: str, conv: str, dense: str) -> dict:
    """{"first", "conv", "dense"} -> rule name (first None: the layer's own group's rule), a preset overridden per
    group where a group's choice is not "preset"."""
    if rule not in PRESETS:
        raise ValueError(f"unknown LRP rule {rule!r}; choose one of {', '.join(PRESETS)}")
    out = dict(zip(("first", "conv", "dense"), PRESETS[rule]))
    for group, choice, allowed in (("first", first, (*GROUP, "zbox")), ("conv", conv, GROUP), ("dense", dense, GROUP)):
        if choice not in allowed:
            raise ValueError(f"unknown LRP rule {choice!r} for the {group} layers; choose one of {', '.join(allowed)}")
        if choice != "preset":
            out[group] = choice
    return out


@contextlib.contextmanager
def out_of_place(model: nn.Module):
    """In-place activations run out of place for the block (zennit's hooks need their inputs), flags put back."""
    flipped = [m for m in model.modules() if getattr(m, "inplace", False) is True]
    try:
        for m in flipped:
            m.inplace = False
        yield
    finally:
        for m in flipped:
            m.inplace = True


def zennit_rules(model: nn.Module, rules: dict, eps: float, gamma: float = 0.25, alpha: float = 2.0, box=None):
    """zennit's composite for the group rules on the model (its canonizers merge BatchNorm and split ResNet's add in
    place, undone on exit): a context manager."""
    from zennit import rules as zr
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import SpecialFirstLayerMapComposite, layer_map_base
    from zennit.types import Convolution, Linear

    if type(model).__name__ == "ResNet":
        from zennit.torchvision import ResNetCanonizer as Canon
    elif type(model).__name__ == "VGG":
        from zennit.torchvision import VGGCanonizer as Canon
    else:
        Canon = SequentialMergeBatchNorm
    make = {"epsilon": lambda: zr.Epsilon(epsilon=eps), "zplus": lambda: zr.ZPlus(stabilizer=eps),
            "gamma": lambda: zr.Gamma(gamma=gamma, stabilizer=eps), "flat": lambda: zr.Flat(stabilizer=eps),
            "alphabeta": lambda: zr.AlphaBeta(alpha=alpha, beta=alpha - 1, stabilizer=eps),
            "wsquare": lambda: zr.WSquare(stabilizer=eps), "zbox": lambda: zr.ZBox(*box, stabilizer=eps)}
    first = [] if rules["first"] is None else [(Linear, make[rules["first"]]())]
    layer_map = layer_map_base(eps) + [(Convolution, make[rules["conv"]]()), (nn.Linear, make[rules["dense"]]())]
    return SpecialFirstLayerMapComposite(layer_map, first, canonizers=[Canon()]).context(model)


def _has_zennit() -> bool:
    try:
        import zennit  # noqa: F401
    except ImportError:
        return False
    return True


class LRP(Attribution):
    """LRP with a rule per layer group; relevance starts at the target logit (sum ~ S_t(x), as Captum). `rule` is a
    preset (one rule everywhere, or one of zennit's composites), `first`, `conv`, `dense` override it per group.
    eps is the epsilon rule's epsilon and every other rule's stabiliser; gamma the gamma rule's, alpha the
    alpha-beta rule's (beta = alpha - 1). zbox (first layer only) bounds each image by its own per-channel range.
    backend 'auto': ours where it runs (nn.Sequential, torchvision VGG and ResNet), else zennit (noted)."""
    name = "LRP"
    family = "Relevance"
    choices = {"rule": tuple(PRESETS), "backend": BACKENDS, "first": (*GROUP, "zbox"), "conv": GROUP,
               "dense": GROUP}
    ranges = {"eps": (1e-6, 1.0, 0.01), "gamma": (0.0, 2.0, 0.05), "alpha": (1.0, 4.0, 0.5)}
    labels = {"alpha": "α (α-β rule, β = α − 1)"}  # not the overlay's "alpha" (its opacity) beside it
    nonfinite_hint = "the rules divide by a layer's output plus eps, and some output is exactly 0: choose eps > 0"

    def __init__(self, rule: str = "epsilon", eps: float = 1e-6, backend: str = "auto", first: str = "preset",
                 conv: str = "preset", dense: str = "preset", gamma: float = 0.25, alpha: float = 2.0):
        self.layers = None
        self.rule, self.eps, self.backend = rule, eps, backend
        self.first, self.conv, self.dense, self.gamma, self.alpha = first, conv, dense, gamma, alpha

    def rules(self, model: nn.Module, x: torch.Tensor):
        """The context manager that puts the chosen rules on the model (ours, or zennit's where ours cannot)."""
        rules = group_rules(self.rule, self.first, self.conv, self.dense)
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown LRP backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.alpha < 1:
            raise ValueError(f"LRP alpha must be >= 1 (beta = alpha - 1 >= 0); got {self.alpha}")
        box = (x.detach().amin((2, 3), keepdim=True), x.detach().amax((2, 3), keepdim=True)) if x.ndim == 4 else (
            x.detach().amin(1, keepdim=True), x.detach().amax(1, keepdim=True))
        args = (rules, self.eps, self.gamma, self.alpha, box)
        why = unsupported(model) if self.backend != "zennit" else ""
        if self.backend == "own" or (not why and self.backend == "auto"):
            return own_rules(model, *args)
        if not _has_zennit():
            raise ValueError(f"LRP needs zennit (pip install zennit) for this model: {why}" if why else
                             "LRP backend 'zennit' needs zennit: pip install zennit")
        if why:
            self.note(f"LRP through zennit: our rules cannot run this model ({why})")
        return _chain(out_of_place(model), zennit_rules(model, *args))

    def attribute(self, model, x, resolve):
        with torch.enable_grad(), self.rules(model, x):
            xg = x.detach().requires_grad_(True)
            logits = run_model(model, xg)
            t = resolve(logits.detach())
            start = torch.zeros_like(logits).scatter_(1, t[:, None], logits.detach().gather(1, t[:, None]))
            (r,) = torch.autograd.grad(logits, xg, start)
        return r


@contextlib.contextmanager
def _chain(*managers):
    with contextlib.ExitStack() as stack:
        for m in managers:
            stack.enter_context(m)
        yield
