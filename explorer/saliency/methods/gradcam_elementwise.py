"""Grad-CAM element-wise: HiResCAM with a ReLU on each channel's product before the sum."""
from .base import CAM


class GradCAMElementWise(CAM):
    """Grad-CAM element-wise (pytorch-grad-cam): sum_k ReLU(g_k * A_k), so no channel's negative part cancels."""
    name = "Grad-CAM element-wise"
    family = "CAM"

    def combine(self, fw, name, acts, grads):  # (N, C, h, w) x2 -> (N, h, w)
        return (grads * acts).clamp_min(0).sum(1)
