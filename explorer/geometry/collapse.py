"""Neural collapse (Papyan, Han & Donoho 2020): NC1-NC4 of a layer's features, per checkpoint of training."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .features import last_linear, layer_outputs


def _cosines(v: np.ndarray) -> np.ndarray:
    """Off-diagonal cosines between the rows of v (C, D)."""
    n = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
    g = n @ n.T
    return g[~np.eye(len(v), dtype=bool)]


def _shape(v: np.ndarray, prefix: str) -> dict[str, float]:
    """NC2 of rows v: equinorm (CV of norms), equiangularity (std of cosines), max-angle (mean |cos + 1/(C-1)|)."""
    norms = np.linalg.norm(v, axis=1)
    cos = _cosines(v)
    c = len(v)
    return {f"{prefix} equinorm": float(norms.std() / norms.mean()) if norms.mean() > 0 else float("nan"),
            f"{prefix} equiangularity": float(cos.std()),
            f"{prefix} max-angle": float(np.abs(cos + 1 / (c - 1)).mean())}


def collapse_metrics(features, labels, weight=None, bias=None, rtol: float = 1e-10) -> dict[str, float]:
    """NC1-NC4 of features (N, D) with labels (N,) and, for NC2 (classifier), NC3 and NC4, the classifier (C, D).

    NC1 = tr(Sw Sb^+) / C through the C - 1 singular directions of the centred means (no D x D matrix);
    NC3 = ||W^T/||W|| - M/||M|| ||_F^2; NC4 = fraction where argmax(W h + b) != nearest class mean. float64.
    """
    h = torch.as_tensor(features).detach().double().flatten(1).cpu().numpy()
    y = torch.as_tensor(labels).detach().cpu().numpy().astype(int)
    if len(h) != len(y):
        raise ValueError(f"{len(h)} feature rows but {len(y)} labels")
    if not np.isfinite(h).all():
        raise ValueError("features contain NaN or inf")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("neural collapse needs at least two classes among the labels")
    means = np.stack([h[y == c].mean(0) for c in classes])  # (C, D)
    mu_g = means.mean(0)  # the mean of class means (Papyan et al.; equal to the global mean when balanced)
    m = means - mu_g  # rows are (mu_c - mu_G)
    u, s, _ = np.linalg.svd(m.T, full_matrices=False)  # M = [mu_c - mu_G] is (D, C)
    keep = s > rtol * s.max()
    idx = np.searchsorted(classes, y)
    within = (h - means[idx]) @ u[:, keep]  # projections of h_i - mu_{y_i} on the singular directions
    out = {"NC1": float(((within ** 2).mean(0) / s[keep] ** 2).sum())}
    out.update(_shape(m, "NC2 means"))
    nearest = np.stack([((h - mu) ** 2).sum(1) for mu in means], 1).argmin(1)  # nearest class centre
    if weight is not None:
        w = torch.as_tensor(weight).detach().double().cpu().numpy()
        if w.shape[1] != h.shape[1]:
            raise ValueError(f"the classifier takes {w.shape[1]} features, these features have {h.shape[1]}")
        w = w[classes]
        b = np.zeros(len(w)) if bias is None else torch.as_tensor(bias).detach().double().cpu().numpy()[classes]
        out.update(_shape(w, "NC2 classifier"))
        out["NC3"] = float(np.linalg.norm(w / np.linalg.norm(w) - m / np.linalg.norm(m)) ** 2)
        out["NC4"] = float(((h @ w.T + b).argmax(1) != nearest).mean())
    return out


def layer_collapse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers=None, batch_size: int = 256) -> dict:
    """{layer: metrics} for each layer's features (default: the classifier's input, with NC3/NC4 from it)."""
    head = last_linear(model)
    layers = [] if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    feats = layer_outputs(model, x, [n for n in layers if n != f"{head}:input"], inputs_of=[head],
                          batch_size=batch_size)
    w, b = model.get_submodule(head).weight, model.get_submodule(head).bias
    out = {f"{head}:input": collapse_metrics(feats[f"{head}:input"], y, w, b)}
    out.update({n: collapse_metrics(feats[n], y) for n in layers if n != f"{head}:input"})
    return out


def collapse_over_training(model: nn.Module, checkpoints, x: torch.Tensor, y: torch.Tensor, layers=None,
                           progress=None) -> list[dict]:
    """layer_collapse at each (epoch, state dict) of checkpoints (session.history.checkpoints), on a copy.

    Returns one row per checkpoint: {"epoch": e, layer: metrics, ...}; progress(done, total, info) after each.
    """
    if not checkpoints:
        raise ValueError("no checkpoints: train the session first (session.train(...) keeps them)")
    net = copy.deepcopy(model)  # never load weights into the user's model
    rows = []
    for i, (epoch, state) in enumerate(checkpoints):
        net.load_state_dict(state)
        rows.append({"epoch": epoch, **layer_collapse(net, x, y, layers)})
        if progress:
            progress(i + 1, len(checkpoints), {"epoch": epoch})
    return rows
