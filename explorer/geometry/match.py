"""Neuron matching between two networks' layers (Li et al. 2016, "Convergent Learning"): correlations + Hungarian."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .features import layer_outputs


def units(acts: torch.Tensor) -> np.ndarray:
    """(n, m) samples by units: a conv map (n, C, h, w) counts every position as a sample of each channel."""
    a = torch.as_tensor(acts).detach().double()
    if a.ndim > 2:
        a = a.movedim(1, -1).reshape(-1, a.shape[1])
    if not torch.isfinite(a).all():
        raise ValueError("activations contain NaN or inf")
    return a.cpu().numpy()


def correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every unit of a (n, m1) with every unit of b (n, m2); 0 for a constant unit."""
    if len(a) != len(b):
        raise ValueError(f"the two layers were seen on {len(a)} and {len(b)} samples: use the same inputs")
    a, b = a - a.mean(0), b - b.mean(0)
    sa, sb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    c = (a.T @ b) / np.maximum(np.outer(sa, sb), 1e-300)
    c[sa == 0] = 0.0
    c[:, sb == 0] = 0.0
    return c


@dataclass(eq=False)
class NeuronMatch:
    """Unit i of a is matched to unit perm[i] of b (one-to-one); semi[i] is its best b unit (repeats allowed)."""

    corr: np.ndarray  # (m1, m2)
    perm: np.ndarray  # (min(m1, m2),) b units, for a units rows
    rows: np.ndarray  # the a units matched (all of them when m1 <= m2)
    matched: np.ndarray  # corr[rows, perm]
    semi: np.ndarray  # (m1,) argmax_j corr[i, j]


def match_units(acts_a, acts_b) -> NeuronMatch:
    """One-to-one matching maximising the summed correlation (scipy's linear_sum_assignment), and semi-matching."""
    from scipy.optimize import linear_sum_assignment

    c = correlations(units(acts_a), units(acts_b))
    rows, cols = linear_sum_assignment(c, maximize=True)
    return NeuronMatch(c, cols, rows, c[rows, cols], c.argmax(1))


def match_layers(model_a: nn.Module, layer_a: str, model_b: nn.Module, layer_b: str, x: torch.Tensor,
                 batch_size: int = 256) -> NeuronMatch:
    """match_units of layer_a of model_a and layer_b of model_b on the same inputs x (runs both models)."""
    fa = layer_outputs(model_a, x, [layer_a], batch_size=batch_size, flatten=False)[layer_a]
    fb = layer_outputs(model_b, x, [layer_b], batch_size=batch_size, flatten=False)[layer_b]
    return match_units(fa, fb)
