"""Map similarity for the trust checks: Spearman rank correlation and SSIM (scikit-image's, or ours to match)."""
from __future__ import annotations

import numpy as np
import torch


def _np(a) -> np.ndarray:
    return a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)


def spearman(a, b) -> float:
    """Spearman rank correlation of two flattened maps (average ranks for ties); NaN if either is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(_np(a).ravel()), rankdata(_np(b).ravel())
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def ssim_window(shape) -> dict:
    """SSIM options for an (H, W) map: a Gaussian window (sigma 1.5, 11 pixels) as Wang et al. when the map is large
    enough, else the largest odd uniform window (at most 7) that fits."""
    side = min(shape)
    if side >= 11:
        return {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    if side < 3:
        raise ValueError(f"SSIM needs maps of at least 3x3; got {tuple(shape)}")
    return {"win_size": min(7, side if side % 2 else side - 1)}


def ssim_ours(a, b, data_range: float = 1.0, win_size: int = 7, gaussian_weights: bool = False, sigma: float = 1.5,
              use_sample_covariance: bool = True) -> float:
    """SSIM of two (H, W) or 1-D maps as skimage.metrics.structural_similarity (K1 0.01, K2 0.03, reflect borders,
    the mean over the interior that the window fully covers)."""
    from scipy import ndimage

    x, y = _np(a), _np(b)
    if gaussian_weights:
        win_size = 2 * int(3.5 * sigma + 0.5) + 1

        def filt(v):
            return ndimage.gaussian_filter(v, sigma, truncate=3.5, mode="reflect")
    else:
        def filt(v):
            return ndimage.uniform_filter(v, size=win_size, mode="reflect")
    npts = win_size ** x.ndim
    cov = npts / (npts - 1) if use_sample_covariance and not gaussian_weights else 1.0
    ux, uy = filt(x), filt(y)
    vx, vy = cov * (filt(x * x) - ux * ux), cov * (filt(y * y) - uy * uy)
    vxy = cov * (filt(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    return float(s[tuple(slice(pad, n - pad) for n in s.shape)].mean())


def ssim(a, b, data_range: float = 1.0) -> float:
    """SSIM of two (H, W) maps in [0, data_range]: scikit-image's structural_similarity if installed, else ours."""
    opts = ssim_window(np.shape(_np(a)))
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        return ssim_ours(a, b, data_range, **opts)
    return float(structural_similarity(_np(a), _np(b), data_range=data_range, **opts))


def ssim_flat(a, b) -> float:
    """SSIM as Quantus 0.6.0's RandomLogit computes it: both maps flattened to 1-D (a 7-pixel uniform window that
    runs across row ends) with data_range = max - min over the pair."""
    x, y = _np(a).ravel(), _np(b).ravel()
    data_range = float(max(x.max(), y.max()) - min(x.min(), y.min()))
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        return ssim_ours(x, y, data_range)
    return float(structural_similarity(x, y, data_range=data_range))
