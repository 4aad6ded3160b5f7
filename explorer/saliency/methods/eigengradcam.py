"""EigenGrad-CAM: Eigen-CAM's first principal component, of gradient times activation."""
from .base import CAM
from .eigencam import SIGNS, eigen_projection


class EigenGradCAM(CAM):
    """EigenGrad-CAM (pytorch-grad-cam): the first principal component of g * A (centred, SVD).

    The peer leaves the SVD's sign as the BLAS returns it, so its map can come out inverted (then mostly zero after
    the ReLU); sign='mean' (default) orients the component to correlate positively with sum_k g_k A_k (HiResCAM's
    map), 'segeigencam' flips when |min| > |max|, 'none' keeps the SVD's sign.
    """
    name = "EigenGrad-CAM"
    family = "CAM"
    choices = {"sign": SIGNS}

    def __init__(self, layers=None, sign: str = "mean"):
        self.layers = layers
        self.sign = sign

    def combine(self, fw, name, acts, grads):  # (N, C, h, w) x2 -> (N, h, w)
        return eigen_projection(grads * acts, self.sign)
