"""Attribution methods' base: attributions (N, C, H, W) from the method's own passes, reduced to maps."""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from ...capture import eval_mode
from ...device import model_device
from .base import Saliency, check_finite
from .scoring import target_scores
from .util import check_input, normalize, resolve_targets, run_model


class Attribution(Saliency):
    """A method with its own forward passes: attributions(model, x, targets) -> (N, C, H, W); maps in [0, 1]."""
    reusable = False  # each call runs its own (hooked, perturbed or doubled) passes
    takes_targets = False  # True: scores go through input_grad, so a Target (targets.py) may say what to explain

    def __init__(self):
        self.layers = None

    def __call__(self, model: nn.Module, x, targets="predicted", labels=None, raw: bool = False) -> torch.Tensor:
        """Maps (N, H, W) for one target class per image."""
        attr = self.attributions(model, x, targets, labels)
        with torch.no_grad():
            m = F.relu(self.reduce(attr))
            return check_finite(m if raw else normalize(m), self)

    def attributions(self, model: nn.Module, x, targets="predicted", labels=None) -> torch.Tensor:
        """Attributions (N, C, H, W) on the model's device, for one target per image (eval mode, model untouched):
        the call every method has (Saliency.attributions)."""
        x = check_input(x).to(model_device(model))
        self.notes_ = []
        with eval_mode(model):
            attr = self.attribute(model, x, lambda out: resolve_targets(targets, out, labels, self.takes_targets))
            attr = attr.detach()
        return check_finite(attr, self)

    def attribute(self, model: nn.Module, x: torch.Tensor, resolve) -> torch.Tensor:  # (N, C, H, W)
        """resolve(logits) -> (N,) targets; subclasses run their passes here."""
        raise NotImplementedError

    def reduce(self, attr):  # (N, C, H, W) -> (N, H, W): as input x gradient, |sum over channels|
        return attr.sum(1).abs()


def input_grad(model: nn.Module, x: torch.Tensor, resolve, hooks=contextlib.nullcontext) -> torch.Tensor:
    """d(sum_i S_{t_i}(x_i)) / dx with the rules that `hooks()` puts on the model for the pass (N, C, H, W)."""
    with torch.enable_grad(), hooks():
        xg = x.detach().requires_grad_(True)
        out = run_model(model, xg, any_output=True)
        (g,) = torch.autograd.grad(target_scores(out, resolve(out)).sum(), xg)
    return g


@contextlib.contextmanager
def module_rules(model: nn.Module, types: tuple, rule):
    """For the block, each call of a module of `types` returns rule(module, z, y): z its (unchanged) input, y its
    output. In-place modules run out of place for the block (their `inplace` flag is put back after it), so none
    overwrites z and no copy of z is made; a stack per module pairs each call with its own input, so a module called
    twice (a reused ReLU) gets each call right."""
    stacks, handles, flipped = {}, [], []

    def pre(m, inputs):
        stacks.setdefault(m, []).append(inputs[0])

    def post(m, inputs, output):
        return rule(m, stacks[m].pop(), output)

    try:
        for m in model.modules():
            if isinstance(m, types):
                if getattr(m, "inplace", False) is True:
                    m.inplace = False
                    flipped.append(m)
                handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
        yield
    finally:
        for h in handles:
            h.remove()
        for m in flipped:
            m.inplace = True
