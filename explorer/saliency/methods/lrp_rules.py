"""LRP rules per layer group (first layer, convolutions, dense layers), as zennit's composites define them, computed
by our own hooks: BatchNorm merged into the layer before it without touching the model, torchvision ResNet blocks'
residual add split by the sum rule. Every rule is zennit's (rules.py) term for term, so the two agree to rounding."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ...layers import RELU_LIKE, apply_layer

RULES = ("epsilon", "gamma", "alphabeta", "zplus", "flat", "wsquare")  # any group; "zbox" the first layer only
GROUPS = ("first", "conv", "dense")
# zennit's named composites: (first layer, convolutions, dense layers); None: the layer's own group's rule
COMPOSITES = {"EpsilonPlus": (None, "zplus", "epsilon"), "EpsilonGammaBox": ("zbox", "gamma", "epsilon"),
              "EpsilonAlpha2Beta1": (None, "alphabeta", "epsilon"), "EpsilonPlusFlat": ("flat", "zplus", "epsilon"),
              "EpsilonAlpha2Beta1Flat": ("flat", "alphabeta", "epsilon")}
AFFINE = (nn.Conv2d, nn.Linear)
POOLS = (nn.AvgPool2d, nn.AdaptiveAvgPool2d)  # the sum rule (zennit's Norm)
ACTIVATIONS = (*RELU_LIKE, nn.Sigmoid, nn.Tanh)  # relevance passes (zennit's Pass)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)  # merged into the layer before, else Pass
GRADIENT = (nn.Flatten, nn.Dropout, nn.Identity, nn.MaxPool2d)  # the plain gradient (max-pool: winner takes all)


def stabilize(z: torch.Tensor, eps: float) -> torch.Tensor:
    """z + eps * sign(z), with sign(0) = +1 (zennit's stabiliser)."""
    return z + ((z == 0).to(z) + z.sign()) * eps


def _pos(t):
    return None if t is None else t.clamp(min=0)


def _neg(t):
    return None if t is None else t.clamp(max=0)


def _run(fn, terms, mapper):
    """zennit's BasicHook: outputs z_k = fn(x_k, w_k, b_k), then the gradients of sum_k <z_k, mapper(zs)[k]>."""
    with torch.enable_grad():
        xs = [x.detach().requires_grad_(True) for x, _, _ in terms]
        zs = [fn(x, w, b) for x, (_, w, b) in zip(xs, terms)]
    return xs, torch.autograd.grad(zs, xs, mapper(zs))


def relevance(rule: str, fn, x, w, b, g, eps: float, gamma: float = 0.25, alpha: float = 2.0, box=None):
    """Input relevance of a layer z = fn(x, w, b) (weights already merged with a BatchNorm) from its output
    relevance g (N, ...), by one rule; eps stabilises every division (the epsilon rule's epsilon)."""
    xp, xn = x.clamp(min=0), x.clamp(max=0)
    if rule == "epsilon":
        xs, gs = _run(fn, [(x, w, b)], lambda zs: [g / stabilize(zs[0], eps)])
        return x * gs[0]
    if rule == "zplus":  # x+ w+ (with b+) + x- w-
        xs, gs = _run(fn, [(xp, _pos(w), _pos(b)), (xn, _neg(w), None)], lambda zs: [g / stabilize(sum(zs), eps)] * 2)
        return xp * gs[0] + xn * gs[1]
    if rule == "alphabeta":  # alpha (positive contributions) - beta (negative ones), beta = alpha - 1
        terms = [(xp, _pos(w), _pos(b)), (xn, _neg(w), None), (xp, _neg(w), _neg(b)), (xn, _pos(w), None)]
        xs, gs = _run(fn, terms, lambda zs: [g / stabilize(zs[0] + zs[1], eps)] * 2 + [g / stabilize(zs[2] + zs[3],
                                                                                                       eps)] * 2)
        return alpha * (xp * gs[0] + xn * gs[1]) - (alpha - 1) * (xp * gs[2] + xn * gs[3])
    if rule == "gamma":  # generalised gamma (Andeol et al. 2021): positive outputs favour w + gamma w+ on x+ ...
        up = lambda t, part: None if t is None else t + gamma * part(t)  # noqa: E731
        terms = [(xp, up(w, _pos), up(b, _pos)), (xn, up(w, _neg), None), (xp, up(w, _neg), up(b, _neg)),
                 (xn, up(w, _pos), None), (x, w, b)]

        def mapper(zs):
            on, off = g * (zs[4] > 0) / stabilize(zs[0] + zs[1], eps), g * (zs[4] < 0) / stabilize(zs[2] + zs[3], eps)
            return [on, on, off, off, torch.zeros_like(g)]
        xs, gs = _run(fn, terms, mapper)
        return xp * gs[0] + xn * gs[1] + xp * gs[2] + xn * gs[3]
    if rule in ("flat", "wsquare"):  # relevance spread over the receptive field by 1 or w^2 (bias: 0, or b^2)
        ww, bb = (torch.ones_like(w), None) if rule == "flat" else (w ** 2, None if b is None else b ** 2)
        xs, gs = _run(fn, [(torch.ones_like(x), ww, bb)], lambda zs: [g / stabilize(zs[0], eps)])
        return gs[0]
    if rule == "zbox":  # inputs bounded by box = (low, high)
        low, high = (torch.broadcast_to(v, x.shape).to(x) for v in box)
        terms = [(x, w, b), (low, _pos(w), _pos(b)), (high, _neg(w), _neg(b))]
        xs, gs = _run(fn, terms, lambda zs: [g / stabilize(zs[0] - zs[1] - zs[2], eps)] * 3)
        return x * gs[0] - low * gs[1] - high * gs[2]
    raise ValueError(f"unknown LRP rule {rule!r}; choose one of {', '.join(RULES)}, zbox (first layer)")


def merged(m: nn.Module, bn: nn.Module | None):
    """(weight, bias) of layer m with the BatchNorm after it folded in (zennit's MergeBatchNorm, op for op)."""
    w, b = m.weight.detach(), None if m.bias is None else m.bias.detach()
    if bn is None:
        return w, b
    scale = bn.weight.detach() / (bn.running_var + bn.eps) ** .5
    b = torch.zeros(1, dtype=w.dtype, device=w.device) if b is None else b
    return w * scale[(slice(None), *(None,) * (w.ndim - 1))], (b - bn.running_mean) * scale + bn.bias.detach()


class _Relevance(torch.autograd.Function):
    """Forward: the layer's output z; backward: rule(x, g), the input relevance from the output relevance g."""

    @staticmethod
    def forward(ctx, x, z, rule):
        ctx.save_for_backward(x)
        ctx.rule = rule
        return z.detach().clone()

    @staticmethod
    def backward(ctx, g):
        return ctx.rule(ctx.saved_tensors[0], g), None, None


class _Pass(torch.autograd.Function):
    """Forward: y; backward: the output relevance, unchanged, to z."""

    @staticmethod
    def forward(ctx, z, y):
        return y.detach().clone()

    @staticmethod
    def backward(ctx, g):
        return g, None


def plan(model: nn.Module, rules: dict) -> list[tuple]:
    """[(layer, its BatchNorm or None, group, rule)] for the model's Conv2d and Linear layers, in the model's order:
    rules {"first", "conv", "dense"} -> rule name, "first" None for the layer's own group's rule."""
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    out = []
    for i, m in enumerate(leaves):
        if isinstance(m, AFFINE):
            nxt = leaves[i + 1] if i + 1 < len(leaves) else None
            bn = nxt if isinstance(nxt, NORMS) else None
            group = "first" if not out else "conv" if isinstance(m, nn.Conv2d) else "dense"
            rule = rules.get(group) or rules["conv" if isinstance(m, nn.Conv2d) else "dense"]
            out.append((m, bn, group, rule))
    return out


def residual_blocks(model: nn.Module) -> list[tuple]:
    """[(block, its main branch's last BatchNorm)] for torchvision ResNet blocks (their add is not a module)."""
    try:
        from torchvision.models.resnet import BasicBlock, Bottleneck
    except ImportError:
        return []
    return [(m, m.bn3 if isinstance(m, Bottleneck) else m.bn2) for m in model.modules()
            if isinstance(m, (BasicBlock, Bottleneck))]


def unsupported(model: nn.Module) -> str:
    """Why our rules cannot run on the model ('' when they can): a layer without a rule, or a module with its own
    forward that may add or multiply tensors outside any module (only Sequential, VGG and ResNet are known)."""
    known = [nn.Sequential]
    try:
        from torchvision.models import VGG, ResNet
        from torchvision.models.resnet import BasicBlock, Bottleneck
        known += [VGG, ResNet, BasicBlock, Bottleneck]
    except ImportError:
        pass
    for name, m in model.named_modules():
        leaf = not any(True for _ in m.children())
        if not leaf and type(m) not in known:  # a subclass may have its own forward
            return (f"{name or 'the model'!r} ({type(m).__name__}) has its own forward (residual adds and "
                    "functional ops have no rule in ours; nn.Sequential, torchvision VGG and ResNet do)")
        if leaf and not isinstance(m, (*AFFINE, *POOLS, *ACTIVATIONS, *NORMS, *GRADIENT)):
            return (f"no rule for layer {name!r} ({type(m).__name__}); rules exist for Conv2d, Linear, "
                    f"{', '.join(c.__name__ for c in POOLS)}, BatchNorm, activations, "
                    f"{', '.join(c.__name__ for c in GRADIENT)}")
    return ""


@contextlib.contextmanager
def own_rules(model: nn.Module, rules: dict, eps: float, gamma: float = 0.25, alpha: float = 2.0, box=None):
    """Our rules on the model for the block (rules: group -> rule name); the model's weights and flags untouched,
    hooks removed on exit."""
    from .attribution import module_rules

    if why := unsupported(model):
        raise ValueError(f"our LRP cannot run this model: {why}")
    handles, inputs, parts = [], {}, {}

    def rule_hook(m, bn, name):
        w, b = merged(m, bn)
        fn = lambda x, ww, bb: apply_layer(m, x, ww, bb)  # noqa: E731
        return lambda x, g: relevance(name, fn, x, w, b, g, eps, gamma, alpha, box)

    def add(module, hook, pre=False):
        handles.append(module.register_forward_pre_hook(hook) if pre else module.register_forward_hook(hook))

    try:
        layers = plan(model, rules)
        for m, bn, _, name in layers:
            rule = rule_hook(m, bn, name)
            if bn is None:
                add(m, lambda mod, i, z, rule=rule: _Relevance.apply(i[0], z, rule))
            else:  # the layer's input to the BatchNorm's output, by the merged layer
                add(m, lambda mod, i, z, bn=bn: inputs.__setitem__(bn, i[0]))
                add(bn, lambda mod, i, z, rule=rule, m=m, bn=bn: _merged_out(m, bn, inputs.pop(mod), rule))
        for p in (m for m in model.modules() if isinstance(m, POOLS)):
            add(p, lambda mod, i, z: _Relevance.apply(i[0], z, lambda x, g, mod=mod: _norm(mod, x, g, eps)))
        for block, last in residual_blocks(model):  # zennit's ResNetCanonizer: out + identity by the sum rule
            add(block, lambda mod, i: parts.__setitem__(mod, [i[0]]), pre=True)
            add(last, lambda mod, i, z, block=block: parts[block].append(z) or z.clone())  # the block adds in place
            if block.downsample is not None:
                add(block.downsample, lambda mod, i, z, block=block: parts[block].__setitem__(0, z))
            add(block, lambda mod, i, y: _Pass.apply(_Sum.apply(*parts.pop(mod)[:2], eps), y))
        merged_bns = {bn for _, bn, _, _ in layers}
        for bn in (m for m in model.modules() if isinstance(m, NORMS) and m not in merged_bns):
            add(bn, lambda mod, i, z: _Pass.apply(i[0], z))
        with module_rules(model, ACTIVATIONS, lambda m, z, y: _Pass.apply(z, y)):
            yield
    finally:
        for h in handles:
            h.remove()


def _merged_out(m, bn, x, rule):
    """The merged layer's output (what zennit's canonized model computes), carrying the rule."""
    w, b = merged(m, bn)
    return _Relevance.apply(x, apply_layer(m, x.detach(), w, b), rule)


def _norm(pool: nn.Module, x, g, eps):
    """zennit's Norm rule: x * d/dx <pool(x), g / stab(pool(x))>."""
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        z = pool.forward(xx)  # not pool(xx): its hook would apply the rule again
    return x * torch.autograd.grad(z, xx, g / stabilize(z, eps))[0]


class _Sum(torch.autograd.Function):
    """a + b, relevance split in proportion (zennit's Sum with the Norm rule)."""

    @staticmethod
    def forward(ctx, a, b, eps):
        ctx.save_for_backward(a, b)
        ctx.eps = eps
        return torch.stack([a, b], dim=-1).sum(-1)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        s = g / stabilize(a + b, ctx.eps)
        return a * s, b * s, None

