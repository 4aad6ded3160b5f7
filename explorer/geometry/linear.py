"""Linear interpreter (Navarrete Michelini et al. 2019; Balestriero & Baraniuk 2018): f(x) = W_x x + b_x."""
from __future__ import annotations

import contextlib
import copy
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..capture import eval_mode
from ..device import model_device

# Leaf modules that are piecewise linear in eval mode (BatchNorm and Dropout are affine there).
PIECEWISE_LINEAR = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Hardtanh, nn.Identity, nn.Flatten, nn.Unflatten,
                    nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
                    nn.Dropout, nn.Dropout2d, nn.ZeroPad2d, nn.ConstantPad2d)
NOT_PIECEWISE_LINEAR = (nn.GELU, nn.SiLU, nn.Mish, nn.ELU, nn.SELU, nn.CELU, nn.Softplus, nn.Sigmoid, nn.Tanh,
                        nn.Hardswish, nn.Hardsigmoid, nn.Softmax, nn.LogSoftmax, nn.LayerNorm, nn.GroupNorm,
                        nn.InstanceNorm1d, nn.InstanceNorm2d, nn.LocalResponseNorm, nn.MultiheadAttention,
                        nn.TransformerEncoderLayer, nn.TransformerDecoderLayer, nn.Transformer)
# torch functions that bend: seen in forward(), they catch functional calls (F.gelu, softmax attention) a walk
# misses. A function mode, not a dispatch mode: the latter imports torch._dynamo (seconds) on first use.
NONLINEAR_FUNCTIONS = {"gelu", "silu", "mish", "elu", "selu", "celu", "softplus", "sigmoid", "tanh", "hardswish",
                       "hardsigmoid", "softmax", "log_softmax", "_softmax", "exp", "log", "pow", "__pow__", "sqrt",
                       "rsqrt", "erf", "sin", "cos", "layer_norm", "group_norm", "instance_norm", "rms_norm",
                       "scaled_dot_product_attention", "multi_head_attention_forward", "reciprocal", "softmin"}


MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
ADAPTIVE_MAX_POOLS = (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
# near tie: within ROUNDING * eps(dtype) * max |value| of a tie (per input and call), the size of a sum's rounding;
# float32: 1.9e-6. Measured: resnet18 at 224, a pre-activation of 3e-7 (layer max 6.4) is -1.3e-6 in channels-last.
ROUNDING = 16


def kinks(m: nn.Module) -> tuple[float, ...]:
    """Where a piecewise-linear activation bends: a pre-activation exactly there sits on a region boundary."""
    if isinstance(m, nn.Hardtanh):  # ReLU6 too
        return (float(m.min_val), float(m.max_val))
    if isinstance(m, (nn.ReLU, nn.PReLU)) or (isinstance(m, nn.LeakyReLU) and m.negative_slope != 1):
        return (0.0,)
    return ()


def _per_input(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


def _tolerance(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, ...) the rounding scale of each input's values (broadcasts against x)."""
    scale = x.flatten(1).abs().amax(1) if x.is_floating_point() and x.numel() else torch.zeros(len(x))
    return (ROUNDING * torch.finfo(x.dtype).eps * scale).view(-1, *[1] * (x.ndim - 1))


def kink_ties(z: torch.Tensor, dz: torch.Tensor | None, at: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) exact and (N,) near ties of each input: pre-activations on a kink, or within rounding of one, that
    move (tangent dz != 0: one constant near x, such as a zero patch's dead channel, bends nothing; dz None:
    every one counts)."""
    gap = torch.stack([(z - k).abs() for k in at]).amin(0)
    moving = torch.ones_like(z, dtype=torch.bool) if dz is None else dz != 0
    return _per_input((gap == 0) & moving), _per_input((gap > 0) & (gap <= _tolerance(z)) & moving)


def _tuple(v, d: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * d


def pool_windows(m: nn.Module, x: torch.Tensor, out: torch.Tensor, fill: float = -math.inf) -> torch.Tensor:
    """(N, C, *out, K) the values of each max-pool window (padding as `fill`, ceil_mode's partial windows too)."""
    d = x.ndim - 2
    k, s, p, dil = (_tuple(v, d) for v in (m.kernel_size, m.stride or m.kernel_size, m.padding, m.dilation))
    span = [(k[i] - 1) * dil[i] + 1 for i in range(d)]
    right = [max(0, (out.shape[2 + i] - 1) * s[i] + span[i] - x.shape[2 + i] - p[i]) for i in range(d)]
    w = F.pad(x, [v for i in reversed(range(d)) for v in (p[i], right[i])], value=fill)
    for i in range(d):  # each unfold appends its window axis last
        w = w.unfold(2 + i, span[i], s[i])[..., ::dil[i]]
    w = w[(slice(None), slice(None), *(slice(0, n) for n in out.shape[2:]))]  # PyTorch's own output size
    return w.flatten(-d)


def _tied(w: torch.Tensor, wt: torch.Tensor | None, top: torch.Tensor, tol) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows (..., K) whose maximum `top` is attained more than once by entries that move differently (tangents
    wt differ: the max bends there; wt None: attained more than once), and windows whose runner-up is within tol."""
    at = w == top[..., None]
    if wt is None:
        exact = at.sum(-1) > 1
    else:
        exact = torch.where(at, wt, -math.inf).amax(-1) > torch.where(at, wt, math.inf).amin(-1)
    near = top - torch.where(at, -math.inf, w).amax(-1) <= tol
    return exact, near


def max_pool_ties(m: nn.Module, x: torch.Tensor, dx: torch.Tensor | None, out) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) exact and (N,) near ties of each input: max-pool windows whose maximum is attained more than once by
    entries that move differently (dx: the input's tangent; None counts every tie), or whose runner-up is within
    rounding. The gradient's route there is a kernel's or a rounding's choice."""
    out = out[0] if isinstance(out, tuple) else out  # return_indices=True
    tol = _tolerance(x).flatten(1)[:, :1]  # (N, 1): one scale per input
    if isinstance(m, MAX_POOLS):
        tol = tol.view(-1, *[1] * (out.ndim - 1))
        exact, near = _tied(pool_windows(m, x, out), None if dx is None else pool_windows(m, dx, out, 0.0), out, tol)
    else:  # adaptive: window i spans [floor(i L / n), ceil((i + 1) L / n)) along each axis
        exact, near = (torch.zeros(out.shape, dtype=torch.bool, device=out.device) for _ in range(2))
        sizes, outs = x.shape[2:], out.shape[2:]
        for idx in itertools.product(*(range(n) for n in outs)):
            win = (slice(None), slice(None), *(slice(i * L // n, -(-(i + 1) * L // n))
                                               for i, L, n in zip(idx, sizes, outs, strict=True)))
            cell = (slice(None), slice(None), *idx)
            exact[cell], near[cell] = _tied(x[win].flatten(2), None if dx is None else dx[win].flatten(2),
                                            out[cell], tol)
    return _per_input(exact), _per_input(near)


def _primal_tangent(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    from torch.autograd import forward_ad

    p, dt = forward_ad.unpack_dual(t)
    return p.detach(), None if dt is None else dt.detach()


@contextlib.contextmanager
def count_ties(model: nn.Module):
    """Within the block, ({module name: (N,) exact ties}, {name: (N,) near ties}) of each forward pass, per input:
    pre-activations exactly on a kink of a piecewise-linear activation module, and max-pool windows whose maximum
    is attained more than once; near: within rounding (ROUNDING) of such a tie. On a dual-tensor forward
    (tied_forward) only ties that bend count: tied entries that move differently along the tangent (for a random
    tangent, with probability 1, those whose gradients differ); without one, every tie counts. Modules only: a
    functional F.relu or F.max_pool2d in a forward is not seen."""
    ties: tuple[dict, dict] = ({}, {})
    handles = []

    def add(name, pair):
        for store, t in zip(ties, pair, strict=True):
            store[name] = store[name] + t if name in store else t

    def on_kink(name, at):
        return lambda mod, inp: add(name, kink_ties(*_primal_tangent(inp[0]), at))  # before an in-place op

    def on_pool(name):
        return lambda mod, inp, out: add(name, max_pool_ties(mod, *_primal_tangent(inp[0]), _primal_tangent(
            out[0] if isinstance(out, tuple) else out)[0]))

    try:
        for name, m in model.named_modules():
            at = kinks(m)
            if at:
                handles.append(m.register_forward_pre_hook(on_kink(name, at)))
            elif isinstance(m, MAX_POOLS + ADAPTIVE_MAX_POOLS):
                handles.append(m.register_forward_hook(on_pool(name)))
        yield ties
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def tied_forward(model: nn.Module, x: torch.Tensor, seed: int = 0) -> tuple[dict, dict]:
    """count_ties of one forward of x carrying a seeded random tangent (forward-mode AD, no graph kept), on the CPU."""
    import warnings

    from torch.autograd import forward_ad

    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device)
    with count_ties(model) as (ties, near), forward_ad.dual_level(), warnings.catch_warnings():
        # the first dual tensor imports torch's JVP decompositions, which call the deprecated torch.jit.script
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
        model(forward_ad.make_dual(x.detach(), v))
    return {n: t.cpu() for n, t in ties.items()}, {n: t.cpu() for n, t in near.items()}


class _FunctionRecorder(TorchFunctionMode):
    """Record (module path, function) for each bending torch function called under the mode."""

    def __init__(self, stack: list[str]):
        super().__init__()
        self.stack, self.found = stack, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in NONLINEAR_FUNCTIONS:
            self.found.append((self.stack[-1] if self.stack else "(model)", name))
        return func(*args, **(kwargs or {}))


def nonlinear_modules(model: nn.Module, x: torch.Tensor | None = None) -> list[tuple[str, str]]:
    """(module name, why) for each part that is not piecewise linear: by a walk, then by running forward on x."""
    found = [(n or "(model)", type(m).__name__) for n, m in model.named_modules()
             if isinstance(m, NOT_PIECEWISE_LINEAR)]
    if x is None:
        return found
    stack: list[str] = []
    handles = []
    try:
        for n, m in model.named_modules():
            handles.append(m.register_forward_pre_hook(lambda mod, inp, n=n: stack.append(n or "(model)")))
            handles.append(m.register_forward_hook(lambda mod, inp, out: stack.pop() and None))
        rec = _FunctionRecorder(stack)
        with torch.no_grad(), eval_mode(model), rec:
            model(x[:1].to(model_device(model)))
    finally:
        for h in handles:
            h.remove()
    seen = {n for n, _ in found}
    for n, op in rec.found:
        if not any(n == s or n.startswith(s + ".") for s in seen):
            found.append((n, f"{op} in its forward"))
            seen.add(n)
    return found


@dataclass(eq=False)
class LocalMap:
    """f(x) = W_x x + b_x at each of N inputs, float arrays on the CPU."""

    weight: np.ndarray  # (N, K, *input shape): row c is class c's template at x
    bias: np.ndarray  # (N, K)
    logits: np.ndarray  # (N, K): the model's own output
    linear_part: np.ndarray  # (N, K): W_x x
    exact: bool  # False when a non-piecewise-linear part was linearised (a tangent, not the region's map)
    nonlinear: tuple[tuple[str, str], ...] = ()
    ties: dict = field(default_factory=dict)  # {module name: (N,) exact ties at each input} (count_ties)
    near_ties: dict = field(default_factory=dict)  # {module name: (N,) ties within float rounding}

    @property
    def on_boundary(self) -> np.ndarray:
        """(N,) bool: the input sits on a region boundary (a tie), so W_x is one of several one-sided maps."""
        return self.tie_count() > 0

    @property
    def near_boundary(self) -> np.ndarray:
        """(N,) bool: within float rounding of a region boundary: another memory layout, dtype or kernel may give
        a neighbouring region's map (float64 resolves it: local_map(..., dtype=torch.float64))."""
        return self.tie_count(near=True) > 0

    def tie_count(self, near: bool = False) -> np.ndarray:
        """(N,) ties (near=True: near ties) at each input, over all modules."""
        return sum((self.near_ties if near else self.ties).values(), np.zeros(len(self.bias), np.int64))

    def boundary(self, i: int = 0) -> str:
        """'' inside a region (and clear of its boundary by more than rounding), else what the ties mean, e.g.
        'on a region boundary: 3 ties (maxpool 3), the local map is one of several'."""
        def count(store, what):
            k = sum(int(t[i]) for t in store.values())
            where = ", ".join(f"{n} {int(t[i])}" for n, t in store.items() if t[i])
            return f"{k} {what}{'s' * (k > 1)} ({where})" if k else ""
        exact, near = count(self.ties, "tie"), count(self.near_ties, "near tie")
        if exact:
            return f"on a region boundary: {exact}, the local map is one of several" + (f"; and {near}" if near
                                                                                         else "")
        if near:
            return (f"within float rounding of a region boundary: {near}, another memory layout or dtype may give a "
                    f"neighbouring region's map (dtype=torch.float64 resolves it)")
        return ""

    def templates(self, c: int | None = None) -> np.ndarray:
        """Class rows of W_x as images: (N, K, C, H, W), or (N, C, H, W) for one class c."""
        return self.weight if c is None else self.weight[:, c]

    def bias_share(self) -> np.ndarray:
        """|b_x| / (|W_x x| + |b_x|) per input and class, in [0, 1] (0 where both are 0)."""
        den = np.abs(self.linear_part) + np.abs(self.bias)
        return np.divide(np.abs(self.bias), den, out=np.zeros_like(den), where=den > 0)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """W_x x' + b_x for inputs x' (N, *shape): the network's output while x' stays in x's region."""
        return np.einsum("nkd,nd->nk", self.weight.reshape(*self.bias.shape, -1), x.reshape(len(x), -1)) + self.bias

    def label(self, i: int = 0) -> str:
        """'exact' or 'tangent (linearised: ...)', for a figure's title, and input i's boundary() when it has ties."""
        kind = "exact" if self.exact else "tangent, not exact (linearised: " + \
            ", ".join(f"{n} ({why})" for n, why in self.nonlinear) + ")"
        note = self.boundary(i)
        return f"{kind}; {note}" if note else kind


def _check_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError("x must be a tensor of inputs (N, C, H, W) or one input (C, H, W)")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    return x


def local_map(model: nn.Module, x: torch.Tensor, linearise: bool = False, dtype: torch.dtype | None = None,
              classes=None, batch_size: int = 64, progress=None) -> LocalMap:
    """The exact affine map (W_x, b_x) of a piecewise-linear model at each input (eval mode; model untouched).

    x: (N, *shape) normalised inputs. W_x is the Jacobian, one backward pass per class over a batch (inputs are
    independent in eval mode; torch.func.jacrev gives the same but its first call imports torch._dynamo, which
    takes seconds); b_x = f(x) - W_x x. classes: the rows to compute (default all; ImageNet's 1000 rows of a
    224 x 224 input are 0.6 GB). A ValueError names the first part that is not piecewise linear, unless
    linearise=True: then the first-order (tangent) map is returned with exact=False. dtype=torch.float64 runs a
    float64 copy of the model (for exactness checks). progress(done, total, info) after each batch.
    At a tie (a pre-activation exactly on a kink, a max-pool window with a tied maximum) the input sits on a region
    boundary and W_x is one of several one-sided maps (which one is the kernels' choice): `ties` counts them per
    module and input (count_ties), `near_ties` those within rounding; `on_boundary` and `boundary(i)` say so.
    """
    x = _check_input(model, x)
    bad = nonlinear_modules(model, x)
    if bad and not linearise:
        n, why = bad[0]
        raise ValueError(f"the model is not piecewise linear: {n!r} is {why}" +
                         (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "") +
                         "; its local map would be a tangent, not exact. Pass linearise=True for the first-order map")
    net = copy.deepcopy(model).to(dtype) if dtype is not None else model
    p = next(net.parameters(), None)
    device, dt = (p.device, p.dtype) if p is not None else (x.device, x.dtype)
    ws, outs, ties = [], [], []
    with eval_mode(net), torch.enable_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].detach().to(device, dt).requires_grad_(True)
            ties.append(tied_forward(net, xb))  # a pass with a random tangent: the ties that bend
            out = net(xb)  # (B, K)
            rows = range(out.shape[1]) if classes is None else list(np.atleast_1d(classes))
            grads = [torch.autograd.grad(out[:, c].sum(), [xb], retain_graph=True)[0] for c in rows]
            ws.append(torch.stack(grads, 1).detach())  # (B, K', *shape): only xb gets a gradient, never a weight
            outs.append(out.detach()[:, list(rows)])
            if progress:
                progress(min(i + batch_size, len(x)), len(x), {"inputs": len(x)})
    xs = x.detach().to(device, dt)
    w, out = torch.cat(ws), torch.cat(outs)
    lin = torch.einsum("nkd,nd->nk", w.flatten(2), xs.flatten(1))
    exact_ties, near_ties = ({n: torch.cat([t[j][n] for t in ties]).numpy() for n in ties[0][j]} for j in (0, 1))
    return LocalMap(w.cpu().numpy(), (out - lin).cpu().numpy(), out.cpu().numpy(), lin.cpu().numpy(),
                    exact=not bad, nonlinear=tuple(bad), ties=exact_ties, near_ties=near_ties)


@dataclass(eq=False)
class PathMaps:
    """W_x along the segment x0 -> x1: t in [0, 1], the maps, and where W_x changes."""

    t: np.ndarray  # (S,)
    maps: LocalMap  # N = S
    change: np.ndarray  # (S - 1,): ||W_{t+1} - W_t||_F / ||W_t||_F (0 inside one region)
    cosine_to_start: np.ndarray  # (S, K): cosine of each class row with its row at t = 0


def along_path(model: nn.Module, x0: torch.Tensor, x1: torch.Tensor, steps: int = 16, linearise: bool = False,
               dtype: torch.dtype | None = None, progress=None) -> PathMaps:
    """local_map at `steps` evenly spaced points from x0 to x1 (single inputs, (C, H, W))."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2; got {steps}")
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 differ in shape: {tuple(x0.shape)} vs {tuple(x1.shape)}")
    t = torch.linspace(0, 1, steps, dtype=x0.dtype, device=x0.device)
    pts = x0[None] + t.view(-1, *[1] * x0.ndim) * (x1 - x0)[None]
    maps = local_map(model, pts, linearise=linearise, dtype=dtype, progress=progress)
    w = maps.weight.reshape(steps, maps.bias.shape[1], -1)
    norm = np.linalg.norm(w.reshape(steps, -1), axis=1)
    change = np.linalg.norm((w[1:] - w[:-1]).reshape(steps - 1, -1), axis=1) / np.maximum(norm[:-1], 1e-30)
    rows = np.linalg.norm(w, axis=2)
    cos = np.einsum("skd,kd->sk", w, w[0]) / np.maximum(rows * rows[:1], 1e-30)
    return PathMaps(t.cpu().numpy(), maps, change, cos)
