"""Neural codes lab: activation codes (He et al. 2021), their determinism and categorization, maps and local
complexity (Humayun et al. 2024). Compute only: no widget, bokeh or umap import here."""
from .complexity import cross_polytope, local_complexity
from .embed import MAX_POINTS, METHODS, FittedMap, embed, fit_map, place
from .extract import Codes, activation_codes
from .knn import hamming_neighbors, knn_accuracy, knn_predict, vote
from .lab import (
                  over_training,
                  session_categorization,
                  session_codes,
                  session_determinism,
                  session_local_complexity,
                  session_map,
)
from .metrics import (
                  categorization,
                  determinism,
                  hungarian_accuracy,
                  kmeans_labels,
                  kmeans_scores,
                  logistic_accuracy,
                  purity,
                  redundancy,
                  selection_summary,
)
from .sweep import PRESETS, REGIMES, regimes, sweep

__all__ = ["Codes", "activation_codes", "session_codes", "redundancy", "determinism", "purity",
           "hungarian_accuracy", "kmeans_labels", "kmeans_scores", "logistic_accuracy", "categorization",
           "hamming_neighbors", "knn_predict", "knn_accuracy", "vote", "embed", "METHODS", "local_complexity",
           "cross_polytope", "session_determinism", "session_categorization", "session_map", "over_training",
           "sweep", "regimes", "REGIMES", "PRESETS", "session_local_complexity",
           "selection_summary", "fit_map", "place", "FittedMap", "MAX_POINTS"]
