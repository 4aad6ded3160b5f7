"""Smooth Grad-CAM++: Grad-CAM++ with the first three gradient powers averaged over noisy copies of the input."""
import torch
import torch.nn.functional as F

from .base import CAM, normalize, resolve_targets, upsample
from .batching import fitting_batch
from .smoothgrad import noise_sigma

NUMERATORS = ("D2", "D1")  # alpha's numerator: torchcam's correction (reduces to eq. 19), or the paper as printed


class SmoothGradCAMpp(CAM):
    """Smooth Grad-CAM++ (Omeiza et al. 2019): D_p = mean_m g_m^p, alpha = D2 / (2 D2 + sum A D3), w = sum a ReLU(D1).

    numerator='D2' (default): D2 in alpha's numerator, torchcam's documented correction, so that with no noise it
    is eq. 19 exactly; 'D1': the paper's text as printed.
    """
    name = "Smooth Grad-CAM++"
    family = "CAM"
    choices = {"numerator": NUMERATORS}  # the panel offers these
    reusable = False

    def __init__(self, layers=None, samples: int = 8, noise_level: float = 0.2, seed: int = 0, batch_size: int = 64,
                 numerator: str = "D2"):
        self.layers = layers
        self.numerator = numerator
        self.samples = samples
        self.noise_level = noise_level
        self.seed = seed
        self.batch_size = batch_size

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        # A is the clean input's activation (torchcam keeps the last noisy one); alpha's numerator is D2, not D1
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1; got {self.samples}")
        if self.numerator not in NUMERATORS:
            raise ValueError(f"unknown numerator {self.numerator!r}; choose one of {', '.join(NUMERATORS)}")
        t = resolve_targets(targets, fw.logits, labels)
        names = list(fw.acts)
        x, sigma = fw.x.detach(), noise_sigma(fw.x, self.noise_level)
        gen = torch.Generator(device=x.device).manual_seed(self.seed)
        noise = [torch.randn(x.shape, generator=gen, device=x.device) * sigma for _ in range(self.samples)]
        chunk = max(1, fitting_batch(fw.model, x[:1], self.batch_size) // len(x))  # noisy copies per forward pass
        d = {n: [0.0, 0.0, 0.0] for n in names}
        for i in range(0, self.samples, chunk):
            eps = torch.stack(noise[i:i + chunk])  # (k, N, C, H, W)
            nf = self.forward(fw.model, (x + eps).flatten(0, 1))
            for n, g in zip(names, self.grads(nf, t.repeat(len(eps)), [nf.acts[n] for n in names]), strict=True):
                g = g.detach().view(len(eps), *fw.acts[n].shape)
                for p in range(3):
                    d[n][p] = d[n][p] + (g ** (p + 1)).sum(0) / self.samples
        maps = []
        with torch.no_grad():
            for n in names:
                a = fw.acts[n].detach()
                d1, d2, d3 = d[n]
                denom = 2 * d2 + a.sum(dim=(2, 3), keepdim=True) * d3
                top = d2 if self.numerator == "D2" else d1
                alpha = torch.where(denom != 0, top / torch.where(denom != 0, denom, torch.ones_like(denom)), 0.0)
                w = (alpha * d1.clamp_min(0)).sum(dim=(2, 3))
                m = F.relu((w[:, :, None, None] * a).sum(1))
                maps.append(upsample(m if raw else normalize(m), fw.x.shape[-2:]))
        out = torch.stack(maps).mean(0)
        return out if raw else normalize(out)
