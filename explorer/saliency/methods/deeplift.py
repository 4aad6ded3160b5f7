"""DeepLIFT with the rescale rule (Shrikumar et al. 2017), correct with reused and in-place nonlinearities."""
import torch
from torch import nn

from ...capture import eval_mode
from ...layers import RELU_LIKE
from .attribution import Attribution, module_rules
from .util import resolve_targets, run_model

ELEMENTWISE = (*RELU_LIKE, nn.Sigmoid, nn.Tanh)
EPS = 1e-10  # |delta z| below this: the ordinary gradient (as Captum)


def _local_vjp(fn, z, g):
    """g times the ordinary derivative of fn at z."""
    with torch.enable_grad():
        zz = z.detach().requires_grad_(True)
        (out,) = torch.autograd.grad(fn(zz.clone()), zz, g)
    return out


def _halves(t):
    a, b = t.chunk(2)
    return a - b


class _Rule(torch.autograd.Function):
    """Forward: the module's output on [x; x'] (2N), kept with its input; subclasses give DeepLIFT's backward."""

    @staticmethod
    def forward(ctx, z, y, module):
        ctx.save_for_backward(z, y)
        ctx.module = module
        return y.detach().clone()


class _Rescale(_Rule):
    """Backward: g * dy/dz, the same multiplier for both halves."""

    @staticmethod
    def backward(ctx, g):
        z, y = ctx.saved_tensors
        dz, dy = _halves(z), _halves(y)
        small = (dz.abs() < EPS).repeat(2, *[1] * (z.ndim - 1))
        ratio = (dy / torch.where(dz.abs() < EPS, torch.ones_like(dz), dz)).repeat(2, *[1] * (z.ndim - 1))
        return torch.where(small, _local_vjp(ctx.module.forward, z, g), g * ratio), None, None


class _MaxPoolRescale(_Rule):
    """Captum's max-pool rule: the output difference split at the input's and the baseline's maxima, over dz.
    Contributions are added where pooling windows overlap (Captum's max_unpool2d keeps one of them)."""

    @staticmethod
    def backward(ctx, g):
        z, y = ctx.saved_tensors
        yx, yb = y.chunk(2)
        top = torch.maximum(yx, yb)
        dout = torch.cat([top - yb, yx - top])
        un = _local_vjp(ctx.module.forward, z, g * dout)  # scatter-add at each half's own argmax
        ux, ub = un.chunk(2)
        dz = _halves(z)
        num = (ux + ub).repeat(2, 1, 1, 1)
        small = (dz.abs() < EPS).repeat(2, 1, 1, 1)
        safe = torch.where(dz.abs() < EPS, torch.ones_like(dz), dz).repeat(2, 1, 1, 1)
        return torch.where(small, _local_vjp(ctx.module.forward, z, g), num / safe), None, None


def _mean(t):  # the mean of the two halves [x; x'], for both halves
    m = t.chunk(2)
    return ((m[0] + m[1]) / 2).repeat(2, *[1] * (t.ndim - 1))


class _Product(torch.autograd.Function):
    """z = a * b on [x; x'] (b broadcast over a): DeepLIFT's product rule, the two factors' Shapley values,
    dz = da (b + b') / 2 + db (a + a') / 2, exact: sum(attr) = dz. The same multiplier for both halves."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * _mean(b), (g * _mean(a)).sum_to_size(b.shape)


def gated_products() -> tuple:
    """Modules whose forward multiplies two signals: torchvision's SqueezeExcitation (scale(x) * x; MobileNetV3,
    EfficientNet, RegNet)."""
    try:
        from torchvision.ops import SqueezeExcitation
    except ImportError:
        return ()
    return (SqueezeExcitation,)


def rescale_rules(model):
    """The rescale rule at every elementwise nonlinearity and MaxPool2d module, the product rule at every gated
    product (gated_products) for the block (hooks removed)."""
    gated = gated_products()

    def rule(m, z, y):
        if isinstance(m, gated):  # its output again, as scale(x) * x with the rule: torchvision's own _scale
            return _Product.apply(z, m._scale(z))
        return (_MaxPoolRescale if isinstance(m, nn.MaxPool2d) else _Rescale).apply(z, y, m)
    return module_rules(model, (*ELEMENTWISE, nn.MaxPool2d, *gated), rule)


class DeepLIFT(Attribution):
    """DeepLIFT-Rescale: (x - x') * multipliers from one pass on [x; x'], with x' = baseline (a number).

    Rules: rescale at elementwise nonlinearities, Captum's at max-pools, the product rule at squeeze-excitation
    gates (torchvision's SqueezeExcitation: complete on mobilenet_v3_small, where the plain gradient through the gate
    missed by 7-22%). Hooks sit on modules and pair each call with its own input, so a ReLU module used twice
    (torchvision's BasicBlock) and in-place ReLUs are handled; Captum's DeepLift overwrites a reused module's stored
    input, and its max-pool rule after a ReLU misses completeness by 5-14% on VGG and a max-pool CNN, where ours is
    complete to 1e-7. Nonlinearities applied with torch.nn.functional are not seen (as Captum): they act as plain
    gradients, and a FallbackWarning says so. Every result notes its summation-to-delta gap, |sum(attr) - (S_t(x) -
    S_t(x'))| / |S_t(x) - S_t(x')| (gap_, per image), and warns above 1e-3: then a rule is missing.
    """
    name = "DeepLIFT"
    family = "Relevance"
    gap_ = None  # (N,) relative summation-to-delta gap of the last result
    incomplete = 1e-3  # a relative gap above this: a missing rule (complete models: 1e-7 to 1e-5, float32)

    def __init__(self, baseline: float = 0.0):
        self.layers = None
        self.baseline = baseline

    def attribute(self, model, x, resolve):
        from .fallback import NONLINEAR_FUNCTIONS, warn_if_functional

        warn_if_functional(self, model, x, (*ELEMENTWISE, nn.MaxPool2d, *gated_products()), NONLINEAR_FUNCTIONS,
                           "rescale rule")
        base = torch.full_like(x, self.baseline)
        with torch.enable_grad(), rescale_rules(model):
            both = torch.cat([x, base]).requires_grad_(True)
            logits = run_model(model, both)
            t = resolve(logits[:len(x)].detach())
            s = logits.gather(1, t.repeat(2)[:, None])[:, 0]
            (g,) = torch.autograd.grad(s.sum(), both)
        attr = (x - base) * g[:len(x)]
        self._note_gap(attr, (s[:len(x)] - s[len(x):]).detach())
        return attr

    def _note_gap(self, attr, change) -> None:
        """gap_ and a note: how far sum(attr) is from S_t(x) - S_t(x') (summation-to-delta), relative."""
        gap = (attr.detach().flatten(1).sum(1) - change).abs()
        self.gap_ = gap / change.abs().clamp_min(torch.finfo(change.dtype).tiny)
        i = int(self.gap_.argmax())
        which = f" (largest: image {i} of {len(gap)})" if len(gap) > 1 else ""
        bad = bool(self.gap_[i] > self.incomplete)
        self.note(f"summation to delta{which}: the attributions sum to S(x) - S(baseline) = {change[i].item():.4g} "
                  f"within {gap[i].item():.2g}, a relative gap of {self.gap_[i].item():.1e}"
                  + (": not complete, some operation of the model has no DeepLIFT rule (it passes the plain "
                     "gradient)" if bad else " (complete)"), warn=bad)

    def delta(self, model, x, targets="predicted", labels=None) -> torch.Tensor:
        """Convergence delta (N,): sum of attributions - (S_t(x) - S_t(baseline)); ~0 when every rule was seen."""
        attr = self.attributions(model, x, targets, labels)
        x = x.to(attr.device)
        with torch.no_grad(), eval_mode(model):
            logits = run_model(model, torch.cat([x, torch.full_like(x, self.baseline)]))
            t = resolve_targets(targets, logits[:len(x)], labels)
            s = logits.gather(1, t.repeat(2)[:, None])[:, 0]
        return attr.flatten(1).sum(1) - (s[:len(x)] - s[len(x):])
