"""KernelSHAP over superpixels (Lundberg and Lee 2017, as Captum's KernelShap with a superpixel feature mask)."""
import torch

from .superpixels import Perturbation

INF_WEIGHT = 1e6  # Captum's weight of the all-kept and none-kept rows (the Shapley kernel's infinite ends)


def kernel_draws(m: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    """Captum's KernelShap draws (samples, m): all kept, none kept, then k ~ p(k) = (m-1) / (k (m-k)) and k of m
    kept where torch.randn(1, m) is above its (m-k)-th smallest value (the same generator calls, in order). One
    superpixel (where Captum's p(k) is 0 / 0): the two ends only, which give its exact value S_t(x) - S_t(base)."""
    n = torch.arange(m, dtype=torch.float)
    probs = torch.tensor(m - 1) / (n * (m - n))
    probs[0] = 0.0
    probs = probs / probs.sum(-1, keepdim=True)  # as torch.distributions.Categorical
    rows = [torch.ones(m, dtype=torch.bool), torch.zeros(m, dtype=torch.bool)][:samples]
    for _ in range(samples - 2 if m > 1 else 0):
        k = torch.multinomial(probs[None], 1, True, generator=gen)[0, 0]
        r = torch.randn(1, m, generator=gen)
        rows.append((r > torch.kthvalue(r, m - int(k)).values.item())[0])
    return torch.stack(rows)


def weighted_lstsq(z: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Coefficients of y ~ z b + c minimising sum w (y - z b - c)^2, the minimum-norm one if z is rank deficient:
    sklearn's LinearRegression (centred by the weighted means, rows scaled by sqrt(w), gelsd), in float64."""
    z, y, w = z.double().cpu(), y.double().cpu(), w.double().cpu()
    zc = (z - (w @ z) / w.sum()) * w.sqrt()[:, None]
    yc = (y - (w @ y) / w.sum()) * w.sqrt()
    return torch.linalg.lstsq(zc, yc[:, None], driver="gelsd").solution[:, 0]


class KernelSHAP(Perturbation):
    """Each superpixel gets its coefficient in a weighted linear regression fitted to S_t of `samples` images with
    superpixels at baseline drawn by the Shapley kernel (exact float64 least squares, as Captum's
    SkLearnLinearRegression solves it in float32). Draws as Captum's from a generator seeded with `seed` per image;
    Captum called per image after torch.manual_seed(seed) agrees."""
    name = "KernelSHAP"
    ranges = {"samples": (10, 2000, 10), "segments": (2, 200, 1), "compactness": (0.1, 100.0, 0.1)}

    def __init__(self, samples: int = 200, segments: int = 32, compactness: float = 10.0,
                 segmentation: str = "slic", baseline: float = 0.0, seed: int = 0, batch_size: int = 256):
        self.layers = None
        self.samples = samples
        self.segments = segments
        self.compactness = compactness
        self.segmentation = segmentation
        self.baseline = baseline
        self.seed = seed
        self.batch_size = batch_size

    def values(self, model, x, labels, t, clean):
        if self.samples < 2:
            raise ValueError(f"KernelSHAP needs samples >= 2 (the all-kept and none-kept images); got {self.samples}")
        ms = [int(lab.max()) + 1 for lab in labels]
        keeps = [kernel_draws(m, self.samples, self.generator(self.seed)).to(x.device) for m in ms]
        out = []
        for keep, y, m in zip(keeps, self.scores(model, x, labels, keeps, t), ms):
            k = keep.sum(1)
            w = torch.where((k == 0) | (k == m), INF_WEIGHT, 1.0)
            out.append(weighted_lstsq(keep, y, w).to(x.device))
        return out
