"""RefineCAM: the product over layers of a base CAM's per-layer maps (denoises early layers)."""
import torch

from .base import CAM, Forward, normalize
from .gradcam import GradCAM, GradCAMpp
from .hirescam import HiResCAM
from .layercam import LayerCAM
from .xgradcam import XGradCAM

BASES = {cls.name: cls for cls in (GradCAMpp, GradCAM, LayerCAM, XGradCAM, HiResCAM)}


class RefineCAM(CAM):
    """RefineCAM (pytorch-grad-cam 1.5.7): each layer's map by the base method alone (ReLU, min-max, bilinear to the
    image, min-max again), their product, min-max. One forward serves every layer (the peer runs one per layer).
    One layer: the base method's map."""
    name = "RefineCAM"
    family = "CAM"
    choices = {"base": tuple(BASES)}

    def __init__(self, layers=None, base: str = "Grad-CAM++"):
        self.layers = layers
        self.base = base

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        if self.base not in BASES:
            raise ValueError(f"RefineCAM: base {self.base!r}; choose one of {', '.join(BASES)}")
        self.notes_ = []
        method = BASES[self.base](list(fw.acts))
        maps = [method.explain(Forward(fw.x, fw.logits, {n: a}, fw.inputs, fw.model), targets, labels)
                for n, a in fw.acts.items()]
        with torch.no_grad():
            out = torch.stack(maps).prod(0)
            return out if raw else normalize(out)
