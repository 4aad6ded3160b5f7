"""Adam through PyTorch's own functional update, without the Optimizer class, whose constructor imports
torch._dynamo (3 s: the longest wait of a first run on a laptop, for graph breaks an eager loop never needs)."""
from __future__ import annotations

import torch


class Adam:
    """torch.optim.Adam's update (torch.optim.adam.adam, the same kernels), bit for bit (tests/test_train.py)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = [p for p in params if p.requires_grad]
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
