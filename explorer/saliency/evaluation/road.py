"""ROAD (Rong et al. 2022): remove the most (or least) relevant pixels, fill them by noisy linear imputation from
their neighbours (so the removal leaves no shape for the model to read), and measure the target score's change."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...capture import eval_mode
from ...device import model_device
from ..methods.scoring import target_scores
from ..methods.util import check_input, check_maps, resolve_targets, run_model

ORDERS = ("most", "least", "combined")
VARIANTS = ("sound", "pytorch-grad-cam")
# the 8 neighbours and their weights (pytorch-grad-cam's metrics/road.py, from the authors' code)
NEIGHBOURS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((0, -1), 1 / 6),
              ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))


def impute(img: torch.Tensor, keep: torch.Tensor, noise: float, gen: torch.Generator) -> torch.Tensor:
    """img (C, H, W) with the pixels where keep (H, W) is False replaced: each the weighted mean of its in-image
    neighbours (one sparse linear system for all of them), plus noise * N(0, 1) per value from gen."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    c, h, w = img.shape
    flat, known = img.reshape(c, -1).double().cpu().numpy(), keep.reshape(-1).cpu().numpy().astype(bool)
    idx = np.flatnonzero(~known)
    if len(idx) == 0:
        return img.clone()
    var = np.zeros(h * w, dtype=np.int64)
    var[idx] = np.arange(len(idx))
    r0, c0 = idx // w, idx % w
    diag, b, rows, cols, vals = np.ones(len(idx)), np.zeros((len(idx), c)), [], [], []
    for (dr, dc), wt in NEIGHBOURS:
        r, cc = r0 + dr, c0 + dc
        inside = (r >= 0) & (cc >= 0) & (r < h) & (cc < w)
        diag[~inside] -= wt
        nb = np.where(inside, r * w + cc, 0)
        have = inside & known[nb]
        b[have] -= wt * flat[:, nb[have]].T
        miss = inside & ~known[nb]
        rows.append(np.flatnonzero(miss))
        cols.append(var[nb[miss]])
        vals.append(np.full(miss.sum(), wt))
    n = len(idx)
    a = coo_matrix((np.concatenate([*vals, -diag]), (np.concatenate([*rows, np.arange(n)]),
                                                     np.concatenate([*cols, np.arange(n)]))), shape=(n, n)).tocsc()
    res = torch.tensor(spsolve(a, b).reshape(n, c), dtype=torch.float)  # (n, C), as the peer rounds it
    out = img.reshape(c, -1).clone()
    # noise drawn as the peer's randn_like(res.t()): its layout (SciPy's solution can come back column-major,
    # which torch.tensor keeps) sets which value lands where
    fill = res.t() + noise * torch.empty_like(res.t()).normal_(generator=gen)
    out[:, torch.from_numpy(idx).to(out.device)] = fill.to(out.device, out.dtype)
    return out.view_as(img)


def kept(m: torch.Tensor, removed: float, most: bool, variant: str, gen: torch.Generator) -> torch.Tensor:
    """(H, W) bool, False where removed: removed% of the pixels, the highest of map m first (most) or the lowest."""
    if variant == "pytorch-grad-cam":  # its threshold: ties at the percentile all go one way
        v = (m if most else 1 - m).float().cpu()  # in float32, as the peer
        return v < np.percentile(v.numpy(), 100 - removed)
    flat = m.flatten().cpu()
    k = int(round(removed / 100 * flat.numel()))
    perm = torch.randperm(flat.numel(), generator=gen)  # ties (a ReLU's zeros) broken at random, not by position
    order = perm[torch.argsort(flat[perm], descending=most, stable=True)]
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    keep[order[:k]] = False
    return keep.view_as(m)


@torch.no_grad()
def road(model: nn.Module, x, maps: torch.Tensor, targets="predicted", labels=None,
         removed=(90, 80, 70, 60, 50, 40, 30, 20, 10), order: str = "combined", noise: float = 0.01, seed: int = 0,
         variant: str = "sound", progress=None) -> torch.Tensor:
    """(N,) ROAD: the mean over `removed` percentages of S_t(x imputed) - S_t(x), unscaled target logits (or a
    target object's scores: a Target, one per image or a callable, as the peer's targets).

    order 'most' (MoRF: lower is better), 'least' (LeRF: higher is better), 'combined' = (least - most) / 2, as
    pytorch-grad-cam's ROADCombined (its percentile p keeps p%: removed = 100 - p). variant 'sound' (default) removes
    exactly round(removed% of H W) pixels, ties broken at random (seeded); 'pytorch-grad-cam' keeps the pixels
    below the map's percentile, so where a fifth of a CAM is 0 (after its ReLU) removing 90% "most relevant" removes
    all of them, and 10% least relevant removes the ties too. Noise is drawn from torch's generator seeded by seed,
    in the peer's order ('least' before 'most', removed as listed, image by image), so a peer run after
    torch.manual_seed(seed) draws the same values.
    """
    x = check_input(x).to(model_device(model))
    maps = check_maps(maps, "ROAD's maps")
    if maps.shape != (len(x), *x.shape[-2:]):
        raise ValueError(f"ROAD needs one (H, W) map per image: maps {tuple(maps.shape)} for images {tuple(x.shape)}")
    if order not in ORDERS or variant not in VARIANTS:
        raise ValueError(f"ROAD: order {order!r} / variant {variant!r}; choose order from {', '.join(ORDERS)} and "
                         f"variant from {', '.join(VARIANTS)}")
    if not removed or any(not 0 <= r <= 100 for r in removed):
        raise ValueError(f"ROAD: removed must be percentages in [0, 100]; got {removed!r}")
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        logits = run_model(model, x, any_output=True)
        t = resolve_targets(targets, logits, labels, objects=True)
        base = target_scores(logits, t)
        out = {}
        for o in ("least", "most") if order == "combined" else (order,):
            drops = []
            for j, r in enumerate(removed):
                imp = torch.stack([impute(x[i], kept(maps[i], r, o == "most", variant, gen), noise, gen)
                                   for i in range(len(x))])
                drops.append(target_scores(run_model(model, imp, any_output=True), t) - base)
                if progress is not None:
                    progress(j + 1, len(removed), {"order": o})
            out[o] = torch.stack(drops).mean(0)
    res = (out["least"] - out["most"]) / 2 if order == "combined" else out[order]
    return res.detach().float().cpu()
