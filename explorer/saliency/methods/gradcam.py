"""Grad-CAM and Grad-CAM++: channel weights from the gradient of the class score at a conv layer."""
import torch

from .base import CAM


class GradCAM(CAM):
    """Grad-CAM (Selvaraju et al. 2017): channel weight = spatial mean of the gradient."""
    name = "Grad-CAM"
    family = "CAM"

    def weights(self, acts, grads):  # (N, C, h, w) -> (N, C)
        return grads.mean(dim=(2, 3))


def pairwise_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over the last axis as NumPy's float32 pairwise summation does (blocks of 128, 8 accumulators), bit for bit:
    where alpha's denominator nearly cancels, another summation order alone moves the map by 1e-4 or more."""
    n = t.shape[-1]
    if n > 128:
        half = n // 2 - (n // 2) % 8
        return pairwise_sum(t[..., :half]) + pairwise_sum(t[..., half:])
    if n < 8:
        out = torch.full(t.shape[:-1], -0.0, dtype=t.dtype, device=t.device)
        for i in range(n):
            out = out + t[..., i]
        return out
    m, r = n - n % 8, t[..., :8]
    for i in range(8, m, 8):
        r = r + t[..., i:i + 8]
    out = ((r[..., 0] + r[..., 1]) + (r[..., 2] + r[..., 3])) + ((r[..., 4] + r[..., 5]) + (r[..., 6] + r[..., 7]))
    for i in range(m, n):
        out = out + t[..., i]
    return out


def gradcampp_alpha(acts, grads, epsilon: float = 0.0):
    """Eq. 19: alpha = g^2 / (2 g^2 + sum_ab A_ab g^3 + epsilon), 0 where g = 0 (and, epsilon=0, where singular)."""
    g2 = grads ** 2
    total = pairwise_sum(acts.flatten(2))[..., None, None]  # sum_ab A_kab, (N, C, 1, 1), summed as the peer
    denom = 2 * g2 + total * (g2 * grads) + epsilon  # the peer's order of operations, so float32 rounding agrees
    ok = (grads != 0) & (denom != 0)
    return torch.where(ok, g2 / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(grads))


class GradCAMpp(CAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19): w_k = sum_ij alpha_kij ReLU(g_kij).

    epsilon=1e-6 (default) is pytorch-grad-cam's: alpha = g^2 / (2 g^2 + sum(A) g^3 + epsilon). epsilon=0 is the
    bare formula, alpha = 1 / (2 + sum(A) g): badly conditioned wherever sum(A) g nears -2, which needs g < 0 and
    sum(A) > 0 or g > 0 and sum(A) < 0 (a pre-activation conv, before its BN/ReLU): alpha then grows without bound
    and one channel dominates the map. The epsilon is not small next to g^2 when |g| ~ 1e-3, so it also damps
    alpha there: the two forms differ on unscaled logits; scaling the logits (by 1e3) makes them agree. Near
    those poles float32 rounding alone moves the map, so sum(A) is summed as NumPy does (pairwise_sum).
    """
    name = "Grad-CAM++"
    family = "CAM"

    def __init__(self, layers=None, epsilon: float = 1e-6):
        self.layers = layers
        self.epsilon = epsilon

    def weights(self, acts, grads):
        if not self.epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0; got {self.epsilon}")
        return (gradcampp_alpha(acts, grads, self.epsilon) * grads.clamp_min(0)).sum(dim=(2, 3))
