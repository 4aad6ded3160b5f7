"""Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation times the upsampled Grad-CAM map."""
import torch
import torch.nn.functional as F

from .attribution import Attribution
from .gradcam import GradCAM
from .guided_backprop import GuidedBackprop

INTERPOLATE = ("nearest", "bilinear")


class GuidedGradCAM(Attribution):
    """GB(x) * upsample(ReLU(Grad-CAM)) with the raw (unnormalised) CAM, as Captum's GuidedGradCam; Captum's
    default upsampling is 'nearest', pytorch-grad-cam's 'bilinear' (on a min-max CAM: the same up to a scale)."""
    name = "Guided Grad-CAM"
    family = "Backprop"
    needs_layer = True
    choices = {"interpolate": INTERPOLATE}

    def __init__(self, layers=None, interpolate: str = "nearest"):
        self.layers = layers
        self.interpolate = interpolate

    def layer_names(self, model, x=None):
        names = GradCAM(self.layers).layer_names(model, x)
        if len(names) != 1:
            raise ValueError(f"Guided Grad-CAM explains one layer; got {names}")
        return names

    def attribute(self, model, x, resolve):
        if self.interpolate not in INTERPOLATE:
            raise ValueError(f"unknown interpolate {self.interpolate!r}; choose one of {', '.join(INTERPOLATE)}")
        cam = GradCAM(self.layer_names(model, x))
        fw = cam.forward(model, x)
        t = resolve(fw.logits)
        (name, a), = fw.acts.items()
        (g,) = cam.grads(fw, t, [a])
        with torch.no_grad():
            m = F.relu(cam.combine(fw, name, a.detach(), g))[:, None]  # (N, 1, h, w)
            m = F.interpolate(m, size=x.shape[-2:], mode=self.interpolate,
                              **({} if self.interpolate == "nearest" else {"align_corners": False}))
        guided = GuidedBackprop()
        guided.warns = self.warns
        gb = guided.attribute(model, x, lambda logits: t)
        self.notes_ = [*self.notes_, *guided.notes_]  # e.g. F.relu where its ReLU rule cannot be attached
        return gb * m

    def reduce(self, attr):
        return attr.abs().amax(1)
