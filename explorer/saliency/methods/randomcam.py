"""Random-CAM: random channel weights, a baseline for sanity checks (a method should beat it)."""
import numpy as np
import torch

from .base import CAM


class RandomCAM(CAM):
    """Random-CAM (pytorch-grad-cam): w_k ~ U(-1, 1), independent of the class and the model's gradients.

    A baseline: a map that explains something should score better than this on the metrics. Drawn from NumPy's
    RandomState(seed), so seed s gives the weights pytorch-grad-cam draws after np.random.seed(s); the same seed
    gives the same map on every call (the peer draws from the global state, a new map each call). As the peer, one
    weight row per image of the batch: an image's map depends on its place in the batch, as a seed's noise does.
    """
    name = "Random-CAM"
    family = "CAM"
    needs_grads = False
    ranges = {"seed": (0, 1000, 1)}

    def __init__(self, layers=None, seed: int = 0):
        self.layers = layers
        self.seed = seed

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        self._rng = np.random.RandomState(self.seed)  # one stream per call: layer after layer, as the peer
        return super().explain(fw, targets, labels, raw)

    def weights(self, acts, grads):  # (N, C, h, w) -> (N, C)
        w = self._rng.uniform(-1, 1, size=acts.shape[:2])
        return torch.from_numpy(w).to(acts.device, acts.dtype)
