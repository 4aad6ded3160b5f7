"""XGrad-CAM: channel weights from the activation-weighted gradient."""
from .base import CAM


class XGradCAM(CAM):
    """XGrad-CAM (Fu et al. 2020): w_k = sum_ij g_kij A_kij / (sum_ij A_kij + 1e-7), as pytorch-grad-cam.

    On a layer that can be negative (a conv before its BN/ReLU) sum_ij A_kij can be near 0 or below it, so a
    weight can blow up or change sign; the definition (and the peer) keep it, prefer a post-ReLU layer.
    """
    name = "XGrad-CAM"
    family = "CAM"

    def weights(self, acts, grads):  # (N, C, h, w) x2 -> (N, C)
        return (grads * acts).sum(dim=(2, 3)) / (acts.sum(dim=(2, 3)) + 1e-7)
