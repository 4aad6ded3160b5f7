"""Superpixel feature masks and the scores of images with some superpixels kept and the rest set to a baseline: the
shared part of LIME, KernelSHAP, feature ablation and Shapley value sampling."""
from __future__ import annotations

import numpy as np
import torch

from .attribution import Attribution
from .batching import fitting_batch
from .fold import folded
from .util import run_model

SEGMENTATIONS = ("slic", "grid")


def slic_labels(img: torch.Tensor, segments: int, compactness: float) -> np.ndarray:
    """SLIC superpixels (scikit-image) of one (C, H, W) image min-max scaled to [0, 1]: colour images in CIELAB as
    skimage does, other channel counts scaled to [0, 100] (the L range) so one compactness suits both."""
    try:
        from skimage.segmentation import slic
    except ImportError as err:
        raise ImportError("SLIC superpixels need scikit-image (pip install scikit-image), or use "
                          "segmentation='grid'") from err
    a = img.detach().double().cpu().permute(1, 2, 0).numpy()
    a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
    lab = a.shape[2] == 3
    return slic(a if lab else 100 * a, n_segments=segments, compactness=compactness, start_label=0,
                channel_axis=-1, convert2lab=lab)


def grid_labels(h: int, w: int, segments: int) -> np.ndarray:
    """About `segments` rectangular cells in row-major order (no dependency, the same for every image)."""
    rows = max(1, min(h, round((segments * h / w) ** 0.5)))
    cols = max(1, min(w, round(segments / rows)))
    return (np.arange(h)[:, None] * rows // h) * cols + np.arange(w)[None] * cols // w


def feature_masks(x: torch.Tensor, segments: int = 32, compactness: float = 10.0,
                  segmentation: str = "slic") -> list[torch.Tensor]:
    """One label map (H, W) per image, labels 0..M_i - 1 each used (long, on x's device)."""
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"unknown segmentation {segmentation!r}; use one of {SEGMENTATIONS}")
    if segments < 1:
        raise ValueError(f"segments must be >= 1; got {segments}")
    h, w = x.shape[-2:]
    out = []
    for img in x:
        lab = slic_labels(img, segments, compactness) if segmentation == "slic" else grid_labels(h, w, segments)
        out.append(torch.as_tensor(np.unique(lab, return_inverse=True)[1].reshape(h, w), device=x.device))
    return out


def passes(sizes: list[int], chunk: int):
    """Runs [(image, start, stop), ...] of at most `chunk` rows in all, filling each pass across images."""
    run, room = [], chunk
    for i, p in enumerate(sizes):
        s = 0
        while s < p:
            take = min(room, p - s)
            run.append((i, s, s + take))
            s, room = s + take, room - take
            if room == 0:
                yield run
                run, room = [], chunk
    if run:
        yield run


class Perturbation(Attribution):
    """A method that scores images with some superpixels kept and the others set to `baseline`; subclasses turn
    the rows of kept superpixels and their scores into one value per superpixel (`values`)."""
    family = "Perturbation"
    choices = {"segmentation": SEGMENTATIONS}

    def masks(self, x):
        """The feature masks of these images (one label map per image)."""
        return feature_masks(x, self.segments, self.compactness, self.segmentation)

    def scores(self, model, x, labels, keeps, t) -> list[torch.Tensor]:
        """S_t of each image with the superpixels of each row of keeps[i] (P_i, M_i) kept, the rest at baseline:
        one (P_i,) tensor per image, from passes of as many images as fit the cache."""
        chunk = fitting_batch(model, x[:1], self.batch_size)
        out = [[] for _ in keeps]
        for run in passes([len(k) for k in keeps], chunk):
            imgs = torch.cat([torch.where(keeps[i][a:b][:, labels[i]][:, None], x[i], self.base(x[i]))
                              for i, a, b in run])
            ts = torch.cat([t[i].expand(b - a) for i, a, b in run])
            s = run_model(model, imgs).gather(1, ts[:, None])[:, 0]
            for piece, part in zip(run, s.split([b - a for _, a, b in run])):
                out[piece[0]].append(part)
        return [torch.cat(o) if o else x.new_zeros(0) for o in out]

    def base(self, img: torch.Tensor) -> torch.Tensor:
        """The baseline as a scalar tensor (broadcast over the image), checked finite."""
        if not np.isfinite(self.baseline):
            raise ValueError(f"baseline must be a finite number; got {self.baseline}")
        return torch.tensor(float(self.baseline), dtype=img.dtype, device=img.device)

    @torch.no_grad()
    def attribute(self, model, x, resolve):
        n, c, h, w = x.shape
        model = folded(model)  # forward passes only, in eval mode: BatchNorm folded is exact algebra and faster
        logits = run_model(model, x)
        t = resolve(logits)
        labels = self.masks(x)
        clean = logits.gather(1, t[:, None])[:, 0]
        vals = self.values(model, x, labels, t, clean)  # one (M_i,) per image
        attr = torch.stack([v.to(clean.dtype)[lab] for v, lab in zip(vals, labels)])  # (N, H, W), the model's dtype
        return attr[:, None].expand(n, c, h, w).contiguous()

    def values(self, model, x, labels, t, clean) -> list[torch.Tensor]:
        """One value per superpixel and image; clean: S_t(x) (N,)."""
        raise NotImplementedError

    def reduce(self, attr):  # every channel carries the same value; positive = the superpixel raises the score
        return attr.mean(1)

    @staticmethod
    def generator(seed: int) -> torch.Generator:
        """A CPU generator seeded with seed: each image's draws start from it, so a batch equals its images."""
        return torch.Generator().manual_seed(int(seed))
