"""Occlusion (Zeiler and Fergus 2014): the drop in the class score when a sliding window is set to a baseline."""
import math

import torch

from .attribution import Attribution
from .batching import fitting_batch
from .fold import folded
from .util import run_model


def windows(size: int, k: int, s: int) -> list[int]:
    """Window starts along one axis, as Captum: ceil((D - k) / s) + 1 of them, the last cut at the border."""
    return [i * s for i in range(math.ceil((size - k) / s) + 1)]


class Occlusion(Attribution):
    """Each pixel gets the mean, over the windows covering it, of S_t(x) - S_t(x with the window set to baseline)
    (Captum's Occlusion with a (C, window, window) window). window=None: about an eighth of the image side;
    stride=None: half the window."""
    name = "Occlusion"
    family = "Perturbation"

    def __init__(self, window: int | None = None, stride: int | None = None, baseline: float = 0.0,
                 batch_size: int = 256):
        self.layers = None
        self.window = window
        self.stride = stride
        self.baseline = baseline
        self.batch_size = batch_size

    def sizes(self, h: int, w: int) -> tuple[int, int]:
        """(window, stride) for an h x w image, or a clear error."""
        k = self.window if self.window is not None else max(1, round(min(h, w) / 8))
        s = self.stride if self.stride is not None else max(1, k // 2)
        if k < 1 or s < 1:
            raise ValueError(f"window and stride must be >= 1; got window={k}, stride={s}")
        if k > min(h, w):
            raise ValueError(f"the occlusion window ({k}x{k}) is larger than the image ({h}x{w})")
        if s > k:
            raise ValueError(f"stride {s} is larger than the window {k}: pixels between windows would get nothing")
        return k, s

    @torch.no_grad()
    def attribute(self, model, x, resolve):
        n, c, h, w = x.shape
        k, s = self.sizes(h, w)
        r, q = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
        masks = torch.stack([((r >= i) & (r < i + k))[:, None] & ((q >= j) & (q < j + k))[None]
                             for i in windows(h, k, s) for j in windows(w, k, s)])  # (P, H, W)
        model = folded(model)  # forward passes only, in eval mode: BatchNorm folded is exact algebra and faster
        logits = run_model(model, x)
        t = resolve(logits)
        clean = logits.gather(1, t[:, None])[:, 0]
        base = torch.full_like(x, self.baseline)
        chunk = max(1, fitting_batch(model, x[:1], self.batch_size) // n)  # windows per forward pass
        drops = []
        for i in range(0, len(masks), chunk):
            m = masks[i:i + chunk, None, None]  # (p, 1, 1, H, W)
            imgs = torch.where(m, base[None], x[None]).flatten(0, 1)  # window-major (p*N, C, H, W)
            out = run_model(model, imgs).view(len(m), n, -1)
            drops.append(clean[None] - out.gather(2, t.view(1, n, 1).expand(len(m), n, 1))[..., 0])
        d = torch.cat(drops)  # (P, N)
        mf = masks.to(x.dtype)
        attr = torch.einsum("pn,phw->nhw", d, mf) / mf.sum(0)
        return attr[:, None].expand(n, c, h, w).contiguous()

    def reduce(self, attr):  # every channel carries the same value; positive = the score drops when hidden
        return attr.mean(1)
