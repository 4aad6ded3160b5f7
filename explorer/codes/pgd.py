"""PGD (Madry et al. 2018): an L-infinity attack from a seeded random start, and adversarial accuracy over epsilon."""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..capture import eval_mode


def _epsilon(e) -> float:
    if isinstance(e, bool) or not isinstance(e, numbers.Real) or not math.isfinite(e) or e < 0:
        raise ValueError(f"epsilon must be a finite number >= 0; got {e!r}")
    return float(e)


def _check(x: torch.Tensor, y: torch.Tensor, bounds) -> None:
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if not torch.isfinite(x).all():
        raise ValueError("the inputs contain NaN or inf")
    if bounds is not None and (x.min() < bounds[0] or x.max() > bounds[1]):
        raise ValueError(f"the inputs leave the data range {tuple(bounds)}: {float(x.min()):.3g}..{float(x.max()):.3g}")


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, steps: int = 10,
        step_size: float | None = None, seed: int = 0, bounds: tuple[float, float] | None = None
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_adv, fooled): the last PGD iterate and, per input, whether any iterate (the random start included) was
    misclassified. Start x + U(-eps, eps) (a seeded generator); each step ascends the cross-entropy by
    step_size * sign(grad) (default 2.5 * eps / steps, Madry et al.), then projects on the eps-ball and on `bounds`
    (the data range, when given). Eval mode, no .grad left on the model's parameters."""
    epsilon = _epsilon(epsilon)
    _check(x, y, bounds)
    alpha = 2.5 * epsilon / max(steps, 1) if step_size is None else float(step_size)
    gen = torch.Generator().manual_seed(seed)
    lo, hi = x - epsilon, x + epsilon
    if bounds is not None:
        lo, hi = lo.clamp(min=bounds[0]), hi.clamp(max=bounds[1])
    start = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1).to(x.device) * epsilon
    adv = torch.minimum(torch.maximum(x + start, lo), hi)  # (N, *shape)
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    with eval_mode(model), torch.enable_grad():
        for i in range(steps + 1):
            adv = adv.detach().requires_grad_(i < steps)
            logits = model(adv)
            fooled |= logits.argmax(1) != y
            if i == steps:
                break
            (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), adv)  # params' .grad stays as it was
            adv = torch.minimum(torch.maximum(adv + alpha * grad.sign(), lo), hi)
    return adv.detach(), fooled


def adversarial_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilons, steps: int = 10,
                         step_size: float | None = None, seed: int = 0, bounds=None, batch_size: int = 500,
                         progress=None) -> np.ndarray:
    """(len(epsilons),) share of inputs PGD does not fool at each epsilon. An input fooled at a smaller epsilon
    counts as fooled at every larger one (its perturbation lies in the larger ball), so the curve never rises in
    epsilon; epsilon 0 gives the clean accuracy."""
    eps = [_epsilon(e) for e in np.atleast_1d(epsilons).tolist()]
    order = np.argsort(eps, kind="stable")
    fooled = torch.zeros(len(x), dtype=torch.bool)
    out = np.zeros(len(eps))
    for n, j in enumerate(order):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            fooled[i:i + batch_size] |= pgd(model, xb, yb, eps[j], steps, step_size, seed, bounds)[1].cpu()
        out[j] = (~fooled).float().mean().item() if len(x) else float("nan")
        if progress:
            progress(n + 1, len(eps), {"epsilon": eps[j]})
    return out
