"""Loss-landscape lab: directions, slices, Hessian spectra and mode connectivity (no widget imports)."""
from .align import permute, weight_matching
from .blockwise import (
                        GroupSpectrum,
                        activation_operator,
                        activation_spectra,
                        exact_trace,
                        group_spectrum,
                        layer_spectra,
                        parameter_groups,
)
from .connect import Path, barriers, interpolate, layerwise_barriers
from .directions import (
                         NORMS,
                         ONE_D,
                         check_same_architecture,
                         model_direction,
                         normalize,
                         pca_directions,
                         random_direction,
                         random_plane,
)
from .hessian import HessianOperator, Trace, density, eigen_path, eigenvalue_density, lanczos, top_eigen, trace
from .slices import BACKENDS, BN_POLICIES, Surface, axis, estimate, preview_indices, slice_grid

__all__ = ["NORMS", "ONE_D", "BACKENDS", "BN_POLICIES", "Surface", "Path", "HessianOperator", "axis",
           "preview_indices", "slice_grid", "random_direction", "random_plane", "normalize", "model_direction",
           "pca_directions", "check_same_architecture", "top_eigen", "trace", "density", "eigenvalue_density",
           "interpolate", "barriers", "layerwise_barriers", "permute", "weight_matching", "estimate", "Trace",
           "eigen_path", "lanczos", "GroupSpectrum", "activation_operator", "exact_trace", "group_spectrum",
           "layer_spectra", "parameter_groups", "activation_spectra"]
