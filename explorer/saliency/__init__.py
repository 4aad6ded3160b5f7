"""Saliency lab: CAM and input-gradient methods behind one registry, a caching Explainer, overlays, metrics.

Pipeline (as pytorch-grad-cam): per layer ReLU, min-max normalise, bilinear resize to the input; several layers are
averaged (NormGrad: multiplied) and normalised again; raw=True skips every normalisation. Choices where sources differ:
Grad-CAM++ adds pytorch-grad-cam's 1e-6 to alpha's denominator (epsilon=0: eq. 19 bare); Smooth Grad-CAM++ uses D2 in
alpha's numerator and the clean input's activations; Eigen-CAM and EigenGrad-CAM orient their component to correlate
positively with the mean activation (sign="segeigencam" for SegEigenCAM's rule); CF-CAM filters cluster gradients with
a Gaussian by default (filter="bilateral": the public code's kernel) and normalises min-max, not by the max; noise std
is noise_level * (max x - min x) per image (SmoothGrad's convention); Ablation-CAM divides by |y| and does not cascade
its ablation value. Score-CAM and Ablation-CAM batch their extra forward passes on the device (batch_size).
Each class has a `family` ("CAM", "Gradient", "Backprop", "Perturbation", "Relevance": the menu's groups) and,
for string knobs, `choices` (knob -> options).
"""
from .ablationcam import AblationCAM
from .base import CAM, Forward, Saliency, normalize, resolve_targets, upsample
from .cfcam import CFCAM
from .eigencam import EigenCAM
from .eigengradcam import EigenGradCAM
from .explainer import Explainer, KeptForwards, explain, make_method
from .fullgrad import FullGrad
from .gradcam import GradCAM, GradCAMpp
from .gradcam_elementwise import GradCAMElementWise
from .hirescam import HiResCAM
from .layercam import LayerCAM
from .metrics import class_sensitivity, deletion_insertion, energy, pointing_game
from .normgrad import NormGrad
from .overlay import COLORMAPS, colormap, overlay
from .rank import rank_methods
from .roar import diff_roar, split_maps
from .scorecam import ScoreCAM
from .smoothgrad import InputGradient, InputXGradient, IntegratedGradients, SmoothGrad
from .smoothgradcampp import SmoothGradCAMpp
from .xgradcam import XGradCAM

# The dropdown and the contract tests both read this: a registered method is on screen and under test at once.
METHODS = {cls.name: cls for cls in (GradCAM, GradCAMpp, SmoothGradCAMpp, EigenCAM, CFCAM, NormGrad,
                                     InputGradient, SmoothGrad, InputXGradient, IntegratedGradients,
                                     HiResCAM, GradCAMElementWise, XGradCAM, LayerCAM, ScoreCAM, AblationCAM,
                                     EigenGradCAM, FullGrad)}

__all__ = ["METHODS", "CAM", "CFCAM", "COLORMAPS", "EigenCAM", "Explainer", "Forward", "KeptForwards", "GradCAM",
           "GradCAMpp",
           "InputGradient", "InputXGradient", "IntegratedGradients", "NormGrad", "Saliency", "SmoothGrad",
           "SmoothGradCAMpp", "class_sensitivity", "colormap", "deletion_insertion", "diff_roar", "energy",
           "explain", "make_method", "normalize", "overlay", "pointing_game", "rank_methods",
           "resolve_targets", "split_maps", "upsample",
           "HiResCAM", "GradCAMElementWise", "XGradCAM", "LayerCAM", "ScoreCAM", "AblationCAM", "EigenGradCAM",
           "FullGrad"]

# attribution family (h13b): modified backprop, perturbation, path and relevance methods
from .attribution import Attribution  # noqa: E402
from .deconvolution import Deconvolution  # noqa: E402
from .deeplift import DeepLIFT  # noqa: E402
from .gradient_shap import GradientSHAP  # noqa: E402
from .guided_backprop import GuidedBackprop  # noqa: E402
from .guided_gradcam import GuidedGradCAM  # noqa: E402
from .lrp import LRP  # noqa: E402
from .occlusion import Occlusion  # noqa: E402

METHODS.update({cls.name: cls for cls in (GuidedBackprop, GuidedGradCAM, Deconvolution, Occlusion, GradientSHAP,
                                          DeepLIFT, LRP)})
__all__ += ["Attribution", "Deconvolution", "DeepLIFT", "GradientSHAP", "GuidedBackprop", "GuidedGradCAM", "LRP",
            "Occlusion"]
