"""HiResCAM: the element-wise product of gradient and activation, summed over channels."""
from .base import CAM


class HiResCAM(CAM):
    """HiResCAM (Draelos and Carin 2020): ReLU(sum_k g_k * A_k); equals Grad-CAM when the layer feeds GAP + Linear."""
    name = "HiResCAM"
    family = "CAM"

    def combine(self, fw, name, acts, grads):  # (N, C, h, w) x2 -> (N, h, w)
        return (grads * acts).sum(1)
