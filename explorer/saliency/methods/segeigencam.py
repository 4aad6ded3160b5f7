"""Seg-Eigen-CAM (Chung and Ying 2025): Eigen-CAM of |gradient| x activation, sign set by the larger extreme."""
from .base import CAM
from .eigencam import eigen_projection


class SegEigenCAM(CAM):
    """Seg-Eigen-CAM: the first principal component of |g| * A (eq. 10), flipped when |min| > |max| (eq. 13), as
    pytorch-grad-cam's seg_eigen_cam.py. Made for segmentation targets (SemanticSegmentationTarget)."""
    name = "Seg-Eigen-CAM"
    family = "CAM"

    def combine(self, fw, name, acts, grads):  # (N, C, h, w) -> (N, h, w)
        weighted = grads.abs() * acts
        return eigen_projection(weighted.masked_fill(weighted.isnan(), 0.0), "segeigencam")  # NaN -> 0 as the peer
