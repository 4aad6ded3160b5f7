"""Saliency lab: CAM and input-gradient methods behind one registry, a caching Explainer, overlays, metrics.

Pipeline (as pytorch-grad-cam): per layer ReLU, min-max normalise, bilinear resize to the input; several layers are
averaged (NormGrad: multiplied) and normalised again; raw=True skips every normalisation. Choices where sources differ:
Grad-CAM++ adds pytorch-grad-cam's 1e-6 to alpha's denominator (epsilon=0: eq. 19 bare); Smooth Grad-CAM++ uses D2 in
alpha's numerator and the clean input's activations; Eigen-CAM and EigenGrad-CAM orient their component to correlate
positively with the mean activation (sign="segeigencam" for SegEigenCAM's rule); CF-CAM filters cluster gradients with
a Gaussian by default (filter="bilateral": the public code's kernel) and normalises min-max, not by the max; noise std
is noise_level * (max x - min x) per image (SmoothGrad's convention); Ablation-CAM divides by |y| and does not cascade
its ablation value (variant='pytorch-grad-cam': the peer's y and cascade). Score-CAM and Ablation-CAM batch their
extra forward passes on the device (batch_size).
Targets (methods/targets.py, as pytorch-grad-cam's): where a gradient method takes a class index it also takes a
Target or any callable output -> (N,) scores: a segmentation mask, similarity to a concept embedding, a binary logit,
a softmax probability, Faster R-CNN box scores; methods with their own scores refuse them with a clear error.
Each class has a `family` ("CAM", "Gradient", "Backprop", "Perturbation", "Relevance": the menu's groups) and,
for string knobs, `choices` (knob -> options).
"""
from . import methods
from .evaluation import (
    class_sensitivity,
    deletion_insertion,
    diff_roar,
    energy,
    model_randomization,
    pointing_game,
    rank_methods,
    split_maps,
)
from .methods import *  # noqa: F403 - the methods' public names, listed once: methods.__all__
from .methods.layers import default_cam_layer, spatial_layers
from .overlay import COLORMAPS, colormap, overlay

__all__ = [*methods.__all__, "COLORMAPS", "class_sensitivity", "colormap", "deletion_insertion", "diff_roar",
           "energy", "overlay", "pointing_game", "rank_methods", "split_maps", "model_randomization",
           "default_cam_layer", "spatial_layers"]
