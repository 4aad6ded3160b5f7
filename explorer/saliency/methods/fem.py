"""FEM: channels weighted by how often they fire far above their own mean."""
from .base import CAM


class FEM(CAM):
    """FEM, Feature Explanation Method (Fuad et al. 2020; pytorch-grad-cam): w_k = the fraction of positions where
    A_k > mean(A_k) + k std(A_k) (population std), map = sum_k w_k A_k. Class-independent, gradient-free."""
    name = "FEM"
    family = "CAM"
    needs_grads = False
    ranges = {"k": (0.0, 5.0, 0.1)}

    def __init__(self, layers=None, k: float = 2.0):
        self.layers = layers
        self.k = k

    def weights(self, acts, grads):  # (N, C, h, w) -> (N, C)
        flat = acts.flatten(2)
        th = flat.mean(2) + self.k * flat.std(2, correction=0)
        return (flat > th[..., None]).to(acts.dtype).mean(2)
