"""How far saliency maps can be trusted: deletion/insertion, pointing game, energy, class sensitivity, DiffROAR, ROAD,
the ranking table, sanity checks (Adebayo et al.), faithfulness and robustness metrics, how far the metrics agree."""
from .arcc import arcc
from .disagreement import metric_agreement
from .faithfulness import complexity, faithfulness_correlation, max_sensitivity, random_logit, sparseness
from .metrics import class_sensitivity, deletion_insertion, energy, pointing_game
from .rank import rank_methods
from .road import road
from .roar import diff_roar, split_maps
from .sanity import data_randomization, model_randomization
from .similarity import spearman, ssim
from .trust import trust_metrics

__all__ = ["metric_agreement", "complexity", "faithfulness_correlation", "max_sensitivity", "random_logit",
           "sparseness", "class_sensitivity", "deletion_insertion", "energy", "pointing_game", "rank_methods",
           "diff_roar", "split_maps", "data_randomization", "model_randomization", "spearman", "ssim",
           "trust_metrics", "road", "arcc"]
