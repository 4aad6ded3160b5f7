"""CF-CAM (He, Pan, Yao 2025): Grad-CAM weights with clustered channels' gradients denoised by a filter."""
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from .base import CAM

FILTERS = ("gaussian", "bilateral")
# sigma in map pixels: a narrower Gaussian is one pixel already (its neighbours weigh < e^-50), and near 1e-19 its
# 2 sigma^2 is 0 in float32, so the kernel is 0/0
SIGMA_MIN = 0.1


def cluster_channels(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, Z) activations -> (important channel ids, DBSCAN labels of the rest; -1 = noise), as cfcam.py."""
    from sklearn.cluster import DBSCAN

    norms = np.linalg.norm(acts, axis=1)
    imp = norms >= np.percentile(norms, 75)
    rest = acts[~imp]
    labels = np.full(len(rest), -1)
    if len(rest) >= 2:
        d = np.linalg.norm(rest[:, None] - rest[None, :], axis=2)[~np.eye(len(rest), dtype=bool)]
        eps = max(float(np.percentile(d, 25)), 1e-5)
        labels = DBSCAN(eps=eps, min_samples=max(2, int(0.05 * len(rest)))).fit(rest).labels_
    return np.flatnonzero(imp), labels


def smooth(g: torch.Tensor, kind: str, sigma: float = 5.0, sigma_range: float = 0.1) -> torch.Tensor:
    """Filter one (h, w) gradient map with a full-size kernel centred on the map, 'same' padding.

    'gaussian': spatial weights only. 'bilateral' (the public code): also exp(-(g - mean g)^2 / 2 sigma_r^2), a
    range term against the map's mean, not against each neighbour, so it is one fixed kernel, not a true bilateral.
    """
    h, w = g.shape
    yy, xx = torch.meshgrid(torch.arange(h, device=g.device) - h / 2, torch.arange(w, device=g.device) - w / 2,
                            indexing="ij")
    k = torch.exp(-(yy ** 2 + xx ** 2) / (2 * sigma ** 2)).to(g.dtype)
    if kind == "bilateral":
        k = k * torch.exp(-((g - g.mean()) ** 2) / (2 * sigma_range ** 2))
    k = k / (k.sum() + 1e-6)
    # 'same' padding as cfcam.py (left/top pad (k-1)//2), written out to avoid the even-kernel warning
    pad = ((w - 1) // 2, w - 1 - (w - 1) // 2, (h - 1) // 2, h - 1 - (h - 1) // 2)
    return F.conv2d(F.pad(g[None, None], pad), k[None, None])[0, 0]


class CFCAM(CAM):
    """CF-CAM: top-quartile-norm channels keep mean(g); DBSCAN clusters of the rest share the filtered mean gradient;
    noise channels are dropped; L = ReLU(sum softmax(w)_k A_k). Normalised min-max (the code divides by the max)."""
    name = "CF-CAM"
    family = "CAM"
    choices = {"filter": FILTERS}  # the panel offers these
    ranges = {"sigma": (SIGMA_MIN, 20.0, 0.1)}

    def __init__(self, layers=None, filter: str = "gaussian", sigma: float = 5.0):
        self.layers = layers
        self.filter = filter
        self.sigma = sigma

    def combine(self, fw, name, acts, grads):
        if self.filter not in FILTERS:
            raise ValueError(f"unknown CF-CAM filter {self.filter!r}; choose one of {', '.join(FILTERS)}")
        if not (isinstance(self.sigma, numbers.Real) and np.isfinite(self.sigma) and self.sigma >= SIGMA_MIN):
            raise ValueError(f"CF-CAM sigma must be a finite number >= {SIGMA_MIN} (map pixels: a narrower Gaussian "
                             f"is a single pixel); got {self.sigma!r}")
        out = []
        for a, g in zip(acts, grads, strict=True):  # DBSCAN is per image, on the CPU
            imp, labels = cluster_channels(a.flatten(1).double().cpu().numpy())
            rest = np.setdiff1d(np.arange(len(a)), imp)
            w = torch.full((len(a),), float("-inf"), dtype=a.dtype, device=a.device)  # -inf: dropped by softmax
            w[imp] = g[imp].mean(dim=(1, 2))
            for j in set(labels.tolist()) - {-1}:
                ids = rest[labels == j]
                w[ids] = smooth(g[ids].mean(0), self.filter, self.sigma).mean()
            out.append((torch.softmax(w, 0)[:, None, None] * a).sum(0))
        return torch.stack(out)
