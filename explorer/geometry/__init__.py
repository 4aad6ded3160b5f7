"""Geometry lab: the network as a piecewise-linear map - local affine maps, linear regions on a plane,
representation similarity (CKA, neuron matching), neural collapse, feature visualisation. Compute only: no
widget import here; every function takes a model (or arrays) and is usable from a notebook."""
from .cka import CKAMatrix, cka_from_grams, cka_matrix, gram, hsic1, layer_grams, linear_cka
from .collapse import collapse_metrics, collapse_over_training, layer_collapse
from .exact import ExactRegions, exact_regions
from .features import layer_outputs, stages
from .featvis import Facets, Visualisation, maximise, multifaceted, top_images, total_variation
from .lab import (
                  cka_job,
                  collapse_job,
                  exact_regions_job,
                  local_map_job,
                  match_job,
                  maximise_job,
                  multifaceted_job,
                  regions_job,
                  session_cka,
                  session_collapse,
                  session_regions,
)
from .linear import LocalMap, PathMaps, along_path, local_map, nonlinear_modules
from .match import NeuronMatch, correlations, match_layers, match_units
from .minibatch import batch_grams, cka_layers, hsic_pairs, minibatch_cka
from .plane import Plane, plane_from, plane_through
from .region_at import Region, region_at
from .regions import (
                  GridRegions,
                  GridSamples,
                  grid_regions,
                  grid_samples,
                  partition,
)
from .span import shows_regions, widest_regions

__all__ = ["LocalMap", "PathMaps", "local_map", "along_path", "nonlinear_modules", "Plane", "plane_through",
           "plane_from", "GridSamples", "GridRegions", "Region", "grid_samples", "partition", "grid_regions",
           "region_at", "shows_regions", "widest_regions", "ExactRegions", "exact_regions", "CKAMatrix", "gram",
           "hsic1", "linear_cka",
           "cka_from_grams", "cka_matrix", "layer_grams", "cka_layers", "NeuronMatch", "correlations",
           "match_units", "match_layers", "collapse_metrics", "layer_collapse", "collapse_over_training",
           "session_collapse", "Visualisation", "Facets", "top_images", "maximise", "multifaceted",
           "total_variation", "layer_outputs", "stages", "local_map_job", "regions_job", "exact_regions_job",
           "cka_job", "match_job", "collapse_job", "maximise_job", "multifaceted_job", "session_regions",
           "session_cka", "minibatch_cka", "batch_grams", "hsic_pairs"]
