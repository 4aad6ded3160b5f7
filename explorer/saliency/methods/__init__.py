"""Saliency methods: the base classes, one file per method, the registry (METHODS) and the caching Explainer."""
from .attribution import Attribution
from .base import CAM, Forward, Saliency, normalize, resolve_targets, upsample
from .explainer import Explainer, KeptForwards, explain, make_method, named_methods
from .registry import (
    CFCAM,
    LIME,
    LRP,
    METHODS,
    AblationCAM,
    Deconvolution,
    DeepLIFT,
    EigenCAM,
    EigenGradCAM,
    FeatureAblation,
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
    KernelSHAP,
    LayerCAM,
    NormGrad,
    Occlusion,
    ScoreCAM,
    ShapleySampling,
    SmoothGrad,
    SmoothGradCAMpp,
    XGradCAM,
)

__all__ = ["METHODS", "Attribution", "CAM", "Forward", "Saliency", "normalize", "resolve_targets", "upsample",
           "Explainer", "KeptForwards", "explain", "make_method", "named_methods", "AblationCAM", "CFCAM",
           "Deconvolution", "DeepLIFT", "EigenCAM", "EigenGradCAM", "FullGrad", "GradCAM", "GradCAMElementWise",
           "GradCAMpp", "GradientSHAP", "GuidedBackprop", "GuidedGradCAM", "HiResCAM", "InputGradient",
           "InputXGradient", "IntegratedGradients", "LRP", "LayerCAM", "NormGrad", "Occlusion", "ScoreCAM",
           "SmoothGrad", "SmoothGradCAMpp", "XGradCAM", "FeatureAblation", "KernelSHAP", "LIME", "ShapleySampling"]
