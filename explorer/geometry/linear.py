"""Linear interpreter (Navarrete Michelini et al. 2019; Balestriero & Baraniuk 2018): f(x) = W_x x + b_x."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
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

    def label(self) -> str:
        """'exact' or 'tangent (linearised: ...)', for a figure's title."""
        return "exact" if self.exact else "tangent, not exact (linearised: " + \
            ", ".join(f"{n} ({why})" for n, why in self.nonlinear) + ")"


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
    ws, outs = [], []
    with eval_mode(net), torch.enable_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].detach().to(device, dt).requires_grad_(True)
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
    return LocalMap(w.cpu().numpy(), (out - lin).cpu().numpy(), out.cpu().numpy(), lin.cpu().numpy(),
                    exact=not bad, nonlinear=tuple(bad))


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
