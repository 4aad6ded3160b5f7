"""Adam through PyTorch's own functional update, without the Optimizer class, whose constructor imports
torch._dynamo (3 s: the longest wait of a first run on a laptop, for graph breaks an eager loop never needs)."""
from __future__ import annotations

import torch


def _check(lr, eps, betas, weight_decay) -> None:
    """What torch.optim.Adam refuses (lr, eps, weight_decay < 0; betas outside [0, 1)), and NaN or inf too."""
    import math

    def number(v, what):
        if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            raise TypeError(f"Adam's {what} must be a number; got {v!r}")
        if isinstance(v, torch.Tensor) and v.numel() != 1:
            raise TypeError(f"Adam's {what} must be a number; got a tensor of shape {tuple(v.shape)}")
        return float(v)

    for v, what in ((lr, "lr"), (eps, "eps"), (weight_decay, "weight_decay")):
        f = number(v, what)
        if not math.isfinite(f) or f < 0:
            raise ValueError(f"Adam's {what} must be a finite number >= 0; got {v}")
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ValueError(f"Adam's betas must be a pair (beta1, beta2), e.g. (0.9, 0.999); got {betas!r}")
    for i, v in enumerate(betas):
        if not 0 <= number(v, f"betas[{i}]") < 1:  # NaN fails this too
            raise ValueError(f"Adam's betas[{i}] must be in [0, 1), e.g. (0.9, 0.999); got {v}")


class Adam:
    """torch.optim.Adam's update (torch.optim.adam.adam, the same kernels), bit for bit (tests/test_train.py)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        _check(lr, eps, betas, weight_decay)
        self.params = [p for p in params if p.requires_grad]
        for p in self.params:  # the update's step size lr / (1 - beta1) is a scalar of the parameter's dtype
            if p.is_floating_point() and float(lr) / (1 - float(betas[0])) > torch.finfo(p.dtype).max:
                raise ValueError(f"Adam's lr={lr} overflows {p.dtype} in the update (lr / (1 - beta1) must be "
                                 f"below {torch.finfo(p.dtype).max:g}): use a smaller lr, e.g. 1e-3")
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.state: dict = {}  # param -> (exp_avg, exp_avg_sq, step)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (None, as torch.optim's default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on the parameters that have a gradient."""
        from torch.optim.adam import adam

        live = [p for p in self.params if p.grad is not None]
        for p in live:
            if p not in self.state:  # lazily, like torch.optim.Adam: zero moments, a float32 step count
                self.state[p] = (torch.zeros_like(p, memory_format=torch.preserve_format),
                                 torch.zeros_like(p, memory_format=torch.preserve_format), torch.tensor(0.0))
        m, v, steps = ([self.state[p][i] for p in live] for i in range(3))
        adam(live, [p.grad for p in live], m, v, [], steps, amsgrad=False, has_complex=False, beta1=self.betas[0],
             beta2=self.betas[1], lr=self.lr, weight_decay=self.weight_decay, eps=self.eps, maximize=False,
             foreach=None, capturable=False, differentiable=False, fused=None, grad_scale=None, found_inf=None)
