"""Grad-CAM and Grad-CAM++: channel weights from the gradient of the class score at a conv layer."""
import torch

from .base import CAM


class GradCAM(CAM):
    """Grad-CAM (Selvaraju et al. 2017): channel weight = spatial mean of the gradient."""
    name = "Grad-CAM"

    def weights(self, acts, grads):  # (N, C, h, w) -> (N, C)
        return grads.mean(dim=(2, 3))


def gradcampp_alpha(acts, grads):
    """Eq. 19 of Chattopadhyay et al.: alpha = g^2 / (2 g^2 + sum_ab A_ab g^3), 0 where g = 0 (or the sum is 0)."""
    total = acts.sum(dim=(2, 3), keepdim=True)  # sum_ab A_kab, (N, C, 1, 1)
    denom = 2 * grads ** 2 + total * grads ** 3
    # the ratio is 1 / (2 + sum A * g) wherever g != 0: computed as such it has no epsilon to tune
    ok = (grads != 0) & (denom != 0)
    return torch.where(ok, grads ** 2 / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(grads))


class GradCAMpp(CAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19): w_k = sum_ij alpha_kij ReLU(g_kij)."""
    name = "Grad-CAM++"

    def weights(self, acts, grads):
        return (gradcampp_alpha(acts, grads) * grads.clamp_min(0)).sum(dim=(2, 3))
