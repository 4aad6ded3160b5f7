"""Finer-CAM: Grad-CAM of the target's score against the classes the model confuses it with."""
import torch

from .base import CAM


def finer_score(logits: torch.Tensor, t: torch.Tensor, comparisons: int, alpha: float) -> torch.Tensor:
    """(N,) sum_j p_j (y_t - alpha y_j) / (sum_j p_j + 1e-9) over the `comparisons` classes whose logits are nearest
    the target's, p the softmax (pytorch-grad-cam's FinerWeightedTarget; differentiable through p too)."""
    gap = (logits.detach() - logits.detach().gather(1, t[:, None])).abs()
    gap.scatter_(1, t[:, None], -1.0)  # the target itself sorts first and is left out
    near = gap.argsort(1)[:, 1:1 + comparisons]  # (N, m)
    p = logits.softmax(1).gather(1, near)
    y = logits.gather(1, t[:, None])
    return (p * (y - alpha * logits.gather(1, near))).sum(1) / (p.sum(1) + 1e-9)


class FinerCAM(CAM):
    """Finer-CAM (Zhang et al. 2025; pytorch-grad-cam 1.5.7 with its default GradCAM base): Grad-CAM of the
    probability-weighted margin between the target and its `comparisons` nearest classes by logit, alpha scaling
    the subtracted scores (alpha=0: Grad-CAM of the target). Shows what tells the target from look-alike classes."""
    name = "Finer-CAM"
    family = "CAM"
    ranges = {"comparisons": (1, 10, 1), "alpha": (0.0, 2.0, 0.05)}

    def __init__(self, layers=None, comparisons: int = 3, alpha: float = 1.0):
        self.layers = layers
        self.comparisons = comparisons
        self.alpha = alpha

    def grads(self, fw, t, wrt):
        k = fw.logits.shape[1]
        if isinstance(self.comparisons, bool) or not isinstance(self.comparisons, int) or self.comparisons < 1:
            raise ValueError(f"Finer-CAM: comparisons must be a positive integer; got {self.comparisons!r}")
        if k < 2:
            raise ValueError("Finer-CAM compares the target with other classes: the model has one output")
        with torch.enable_grad():
            score = finer_score(fw.logits, t, min(self.comparisons, k - 1), self.alpha).sum()
            return torch.autograd.grad(score, wrt, retain_graph=True, allow_unused=True)

    def weights(self, acts, grads):  # (N, C, h, w) -> (N, C)
        return grads.mean(dim=(2, 3))
