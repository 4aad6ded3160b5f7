"""SESS: a base CAM on sliding windows over the image at several scales, weighted by each window's score, fused."""
import torch
import torch.nn.functional as F

from ...capture import eval_mode
from .base import CAM, normalize, resolve_targets, upsample
from .refinecam import BASES
from .scorecam import check_batch_size
from .util import run_model


def window_starts(length: int, step: int, window: int) -> list[int]:
    """Window starts along one side; the last window is shifted back inside the image (the peer's)."""
    starts = []
    for s in range(0, length, step):
        if s + window >= length:
            starts.append(max(length - window, 0))
            break
        starts.append(s)
    return starts


def gaussian_blur(m: torch.Tensor, size: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """(H, W) blurred as cv2.GaussianBlur(m, (size, size), sigma): separable, reflect-101 border."""
    k = torch.exp(-(torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).to(m)
    p = F.pad(m[None, None], (size // 2,) * 4, mode="reflect")
    return F.conv2d(F.conv2d(p, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))[0, 0]


class SESS(CAM):
    """SESS (Tursun et al. 2022; pytorch-grad-cam 1.5.7): the image resized (shorter side) to num_scales scales from
    the window size up in steps of round(scale_step * window); square windows (default: the shorter side) slid with
    `step` (default: the window); each window's map by the base method, weighted by its target score (softmax;
    scores under 0 clipped) over the best window's, pasted back and resized to the image; fused by the mean over the
    windows whose value is above theta (or the max), Gaussian-blurred (11 x 11, sigma 5), min-max. pre_filter drops
    that fraction of the lowest-scoring windows first."""
    name = "SESS"
    family = "CAM"
    reusable = False
    choices = {"base": tuple(BASES), "pool": ("mean", "max")}
    ranges = {"num_scales": (1, 16, 1), "scale_step": (0.05, 1.0, 0.05), "pre_filter": (0.0, 0.95, 0.05),
              "theta": (0.0, 1.0, 0.05)}

    def __init__(self, layers=None, base: str = "Grad-CAM", num_scales: int = 12, scale_step: float = 2 / 7,
                 window=None, step=None, pre_filter: float = 0.0, theta: float = 0.0, pool: str = "mean",
                 smooth: bool = True, softmax: bool = True, batch_size: int = 32):
        self.layers = layers
        self.base, self.num_scales, self.scale_step = base, num_scales, scale_step
        self.window, self.step, self.pre_filter, self.theta = window, step, pre_filter, theta
        self.pool, self.smooth, self.softmax, self.batch_size = pool, smooth, softmax, batch_size

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        if self.base not in BASES or self.pool not in ("mean", "max") or not 0 <= self.pre_filter < 1 \
                or self.num_scales < 1:
            raise ValueError(f"SESS: base {self.base!r} (one of {', '.join(BASES)}), pool {self.pool!r} ('mean' or "
                             f"'max'), pre_filter {self.pre_filter} (in [0, 1)), num_scales {self.num_scales} (>= 1)")
        self.notes_ = []
        t = resolve_targets(targets, fw.logits, labels)
        base = BASES[self.base](list(fw.acts))
        with eval_mode(fw.model):
            maps = torch.stack([self.one(fw.model, fw.x.detach()[i:i + 1], int(t[i]), base) for i in range(len(t))])
        return maps if raw else normalize(maps)

    def one(self, model, x, t: int, base) -> torch.Tensor:  # (1, C, H, W) -> (H, W)
        h, w = x.shape[-2:]
        win = self.window or min(h, w)
        step, bs = self.step or win, check_batch_size(self.batch_size)
        patches, where = [], []
        for s in (win + round(win * self.scale_step) * i for i in range(self.num_scales)):
            size = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)  # torchvision's resize(x, s)
            big = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)  # as torchvision
            for y0 in window_starts(size[0], step, win):
                for x0 in window_starts(size[1], step, win):
                    patches.append(big[:, :, y0:y0 + win, x0:x0 + win])
                    where.append((x0, y0, size))
        with torch.no_grad():
            scores = torch.cat([self.scores(model, torch.cat(patches[i:i + bs]), t)
                                for i in range(0, len(patches), bs)])
        scores = scores.clamp_min(0).cpu()
        order = torch.from_numpy(scores.numpy().argsort())[int(len(scores) * self.pre_filter):]
        top = scores[order[-1]]
        weights = scores[order] / top if top > 0 else torch.ones(len(order))
        total, count = torch.zeros(h, w, dtype=x.dtype, device=x.device), torch.zeros(h, w, dtype=x.dtype,
                                                                                     device=x.device)
        for i in range(0, len(order), bs):
            idx = order[i:i + bs].tolist()
            cams = base(model, torch.cat([patches[j] for j in idx]), [t] * len(idx))
            for cam, wt, j in zip(cams, weights[i:i + bs].tolist(), idx, strict=True):
                x0, y0, size = where[j]
                full = torch.zeros(size, dtype=x.dtype, device=x.device)
                full[y0:y0 + win, x0:x0 + win] = cam * wt
                pasted = upsample(full[None], (h, w))[0]
                if self.pool == "max":
                    total = torch.maximum(total, pasted)
                else:
                    keep = pasted > self.theta
                    total, count = total + torch.where(keep, pasted, 0), count + keep
        out = total if self.pool == "max" else torch.where(count > 0, total / count.clamp_min(1), 0)
        return gaussian_blur(out) if self.smooth else out

    def scores(self, model, batch, t: int) -> torch.Tensor:
        logits = run_model(model, batch)
        return (logits.softmax(-1) if self.softmax else logits)[:, t]
