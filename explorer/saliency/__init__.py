"""Saliency lab: CAM and input-gradient methods behind one registry, a caching Explainer, overlays, metrics.

Pipeline (as pytorch-grad-cam): per layer ReLU, min-max normalise, bilinear resize to the input; several layers are
averaged (NormGrad: multiplied) and normalised again; raw=True skips every normalisation. Choices where sources differ:
Grad-CAM++ adds pytorch-grad-cam's 1e-6 to alpha's denominator (epsilon=0: eq. 19 bare); Smooth Grad-CAM++ uses D2 in
alpha's numerator and the clean input's activations; Eigen-CAM and EigenGrad-CAM orient their component to correlate
positively with the mean activation (sign="segeigencam" for SegEigenCAM's rule); CF-CAM filters cluster gradients with
a Gaussian by default (filter="bilateral": the public code's kernel) and normalises min-max, not by the max; noise std
is noise_level * (max x - min x) per image (SmoothGrad's convention); Ablation-CAM divides by |y| and does not cascade
its ablation value (variant='pytorch-grad-cam': the peer's y and cascade); KPCA-CAM orients its component by the
mean activation (sign='sklearn': the peer's); Random-CAM draws from RandomState(seed) (the same map every call).
Score-CAM and Ablation-CAM batch their extra forward passes on the device (batch_size).
Each class has a `family` ("CAM", "Gradient", "Backprop", "Perturbation", "Relevance": the menu's groups) and,
for string knobs, `choices` (knob -> options).
"""
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
from .methods import (
    CAM,
    CFCAM,
    FEM,
    KPCACAM,
    LIME,
    LRP,
    METHODS,
    AblationCAM,
    Attribution,
    Deconvolution,
    DeepLIFT,
    EigenCAM,
    EigenGradCAM,
    Explainer,
    FeatureAblation,
    FinerCAM,
    Forward,
    FullGrad,
    GradCAM,
    GradCAMElementWise,
    GradCAMpp,
    GradientSHAP,
    GuidedBackprop,
    GuidedGradCAM,
    HiResCAM,
    InputGradient,
    InputXGradient,
    IntegratedGradients,
    KeptForwards,
    KernelSHAP,
    LayerCAM,
    NormGrad,
    Occlusion,
    RandomCAM,
    Saliency,
    ScoreCAM,
    ShapleyCAM,
    ShapleySampling,
    SmoothGrad,
    SmoothGradCAMpp,
    XGradCAM,
    explain,
    make_method,
    normalize,
    resolve_targets,
    upsample,
)
from .methods.layers import default_cam_layer, spatial_layers
from .overlay import COLORMAPS, colormap, overlay

__all__ = ["METHODS", "CAM", "CFCAM", "COLORMAPS", "EigenCAM", "Explainer", "Forward", "KeptForwards", "GradCAM",
           "GradCAMpp", "InputGradient", "InputXGradient", "IntegratedGradients", "NormGrad", "Saliency", "SmoothGrad",
           "SmoothGradCAMpp", "class_sensitivity", "colormap", "deletion_insertion", "diff_roar", "energy",
           "explain", "make_method", "normalize", "overlay", "pointing_game", "rank_methods",
           "resolve_targets", "split_maps", "upsample",
           "HiResCAM", "GradCAMElementWise", "XGradCAM", "LayerCAM", "ScoreCAM", "AblationCAM", "EigenGradCAM",
           "FullGrad", "Attribution", "Deconvolution", "DeepLIFT", "GradientSHAP", "GuidedBackprop", "GuidedGradCAM",
           "LRP", "Occlusion", "model_randomization", "default_cam_layer", "spatial_layers",
           "FEM", "FinerCAM", "KPCACAM", "RandomCAM", "ShapleyCAM",
           "FeatureAblation", "KernelSHAP", "LIME", "ShapleySampling"]
