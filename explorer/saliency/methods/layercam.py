"""Layer-CAM: activations weighted location by location by the positive gradient."""
from .base import CAM


class LayerCAM(CAM):
    """Layer-CAM (Jiang et al. 2021): ReLU(sum_k ReLU(g_k) * A_k), the ReLU after the sum (as pytorch-grad-cam)."""
    name = "Layer-CAM"
    family = "CAM"

    def combine(self, fw, name, acts, grads):  # (N, C, h, w) x2 -> (N, h, w)
        return (grads.clamp_min(0) * acts).sum(1)
