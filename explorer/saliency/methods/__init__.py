"""Saliency methods: the base classes, one file per method, the registry (METHODS) and the caching Explainer."""
from .attribution import Attribution
from .base import CAM, Forward, Saliency, normalize, resolve_targets, upsample
from .explainer import Explainer, KeptForwards, explain, make_method, named_methods
from .registry import (
    CFCAM,
    FEM,
    KPCACAM,
    LIME,
    LRP,
    METHODS,
    SESS,
    AblationCAM,
    Deconvolution,
    DeepLIFT,
    EigenCAM,
    EigenGradCAM,
    FeatureAblation,
    FinerCAM,
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
    LayerConductance,
    NormGrad,
    Occlusion,
    RandomCAM,
    RefineCAM,
    ScoreCAM,
    ShapleyCAM,
    ShapleySampling,
    SmoothGrad,
    SmoothGradCAMpp,
    XGradCAM,
)
from .segeigencam import SegEigenCAM
from .targets import (
    BinaryClassifierOutputTarget,
    ClassifierOutputSoftmaxTarget,
    ClassifierOutputTarget,
    FasterRCNNBoxScoreTarget,
    SemanticSegmentationTarget,
    SimilarityToConceptTarget,
    Target,
)

__all__ = ["METHODS", "Attribution", "CAM", "Forward", "Saliency", "normalize", "resolve_targets", "upsample",
           "Explainer", "KeptForwards", "explain", "make_method", "named_methods", "AblationCAM", "CFCAM",
           "Deconvolution", "DeepLIFT", "EigenCAM", "EigenGradCAM", "FullGrad", "GradCAM", "GradCAMElementWise",
           "GradCAMpp", "GradientSHAP", "GuidedBackprop", "GuidedGradCAM", "HiResCAM", "InputGradient",
           "InputXGradient", "IntegratedGradients", "LRP", "LayerCAM", "NormGrad", "Occlusion", "ScoreCAM",
           "SmoothGrad", "SmoothGradCAMpp", "XGradCAM", "FEM", "FinerCAM", "KPCACAM", "RandomCAM",
           "ShapleyCAM",
           "FeatureAblation", "KernelSHAP", "LIME", "ShapleySampling",
           "LayerConductance", "RefineCAM", "SESS"]
__all__ += ["SegEigenCAM", "Target", "ClassifierOutputTarget", "ClassifierOutputSoftmaxTarget",  # issue 24's targets
            "BinaryClassifierOutputTarget", "SemanticSegmentationTarget", "SimilarityToConceptTarget",
            "FasterRCNNBoxScoreTarget"]
