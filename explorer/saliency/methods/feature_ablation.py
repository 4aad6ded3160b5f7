"""Feature ablation over superpixels (Captum's FeatureAblation with a superpixel feature mask)."""
import torch

from .superpixels import Perturbation


class FeatureAblation(Perturbation):
    """Each superpixel gets S_t(x) - S_t(x with that superpixel set to baseline): one pass per superpixel.
    segmentation 'slic' (scikit-image, about `segments` superpixels) or 'grid'."""
    name = "Feature ablation"
    ranges = {"segments": (2, 200, 1), "compactness": (0.1, 100.0, 0.1)}

    def __init__(self, segments: int = 32, compactness: float = 10.0, segmentation: str = "slic",
                 baseline: float = 0.0, batch_size: int = 256):
        self.layers = None
        self.segments = segments
        self.compactness = compactness
        self.segmentation = segmentation
        self.baseline = baseline
        self.batch_size = batch_size

    def values(self, model, x, labels, t, clean):
        keeps = [~torch.eye(int(lab.max()) + 1, dtype=torch.bool, device=x.device) for lab in labels]
        return [clean[i] - s for i, s in enumerate(self.scores(model, x, labels, keeps, t))]
