"""The registry of saliency methods, display name -> class: the dropdown and the contract tests both read it, so a
registered method is on screen and under test at once (an explicit tuple, no subclass magic)."""
from .ablationcam import AblationCAM
from .cfcam import CFCAM
from .conductance import LayerConductance
from .deconvolution import Deconvolution
from .deeplift import DeepLIFT
from .eigencam import EigenCAM
from .eigengradcam import EigenGradCAM
from .feature_ablation import FeatureAblation
from .fem import FEM
from .finercam import FinerCAM
from .fullgrad import FullGrad
from .gradcam import GradCAM, GradCAMpp
from .gradcam_elementwise import GradCAMElementWise
from .gradient_shap import GradientSHAP
from .guided_backprop import GuidedBackprop
from .guided_gradcam import GuidedGradCAM
from .hirescam import HiResCAM
from .kernel_shap import KernelSHAP
from .kpcacam import KPCACAM
from .layercam import LayerCAM
from .lime import LIME
from .lrp import LRP
from .normgrad import NormGrad
from .occlusion import Occlusion
from .randomcam import RandomCAM
from .refinecam import RefineCAM
from .scorecam import ScoreCAM
from .segeigencam import SegEigenCAM
from .sess import SESS
from .shapley_sampling import ShapleySampling
from .shapleycam import ShapleyCAM
from .smoothgrad import InputGradient, InputXGradient, IntegratedGradients, SmoothGrad
from .smoothgradcampp import SmoothGradCAMpp
from .xgradcam import XGradCAM

CAMS_AND_GRADIENTS = (GradCAM, GradCAMpp, SmoothGradCAMpp, EigenCAM, CFCAM, NormGrad, InputGradient, SmoothGrad,
                      InputXGradient, IntegratedGradients, HiResCAM, GradCAMElementWise, XGradCAM, LayerCAM, ScoreCAM,
                      AblationCAM, EigenGradCAM, FullGrad, KPCACAM, FEM, ShapleyCAM, FinerCAM, RandomCAM)
ATTRIBUTIONS = (GuidedBackprop, GuidedGradCAM, Deconvolution, Occlusion, GradientSHAP, DeepLIFT, LRP, FeatureAblation,
                ShapleySampling, LIME, KernelSHAP)
CAMS_AND_GRADIENTS += (SegEigenCAM, LayerConductance, RefineCAM, SESS)  # issue 24
METHODS = {cls.name: cls for cls in (*CAMS_AND_GRADIENTS, *ATTRIBUTIONS)}
