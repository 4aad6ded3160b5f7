"""LIME over superpixels (Ribeiro et al. 2016, as Captum's Lime with a superpixel feature mask)."""
import torch

from .superpixels import Perturbation


def cosine_weights(x, base, lab, keep, width):
    """Captum's default LIME kernel exp(-d^2 / (2 width^2)), d = 1 - cos(x, perturbed x), for each row of keep
    (P, M) from per-superpixel sums (exact algebra, float64): no perturbed image is formed."""
    m = keep.shape[1]
    x64, b64 = x.double(), base.double().expand_as(x)
    sums = [torch.zeros(m, dtype=torch.float64, device=x.device).index_add_(0, lab.flatten(), (u * v).sum(0).flatten())
            for u, v in ((x64, x64), (x64, b64), (b64, b64))]
    k = keep.double()
    dot = k @ sums[0] + (1 - k) @ sums[1]
    norm2 = k @ sums[0] + (1 - k) @ sums[2]
    eps = 1e-8  # torch's cosine_similarity: x.y / (max(|x|, eps) max(|y|, eps))
    cos = dot / (sums[0].sum().sqrt().clamp_min(eps) * norm2.sqrt().clamp_min(eps))
    return torch.exp(-((1 - cos) ** 2) / (2 * width ** 2))


class LIME(Perturbation):
    """Each superpixel gets its coefficient in a Lasso (alpha, sklearn, as Captum's default) fitted to S_t of
    `samples` images with random halves of the superpixels at baseline, weighted by the cosine kernel. Draws as
    Captum's (torch.bernoulli) from a generator seeded with `seed` per image; Captum called per image after
    torch.manual_seed(seed) agrees."""
    name = "LIME"
    ranges = {"samples": (10, 2000, 10), "alpha": (1e-4, 1.0, 1e-4), "kernel_width": (0.05, 4.0, 0.05),
              "segments": (2, 200, 1), "compactness": (0.1, 100.0, 0.1)}

    def __init__(self, samples: int = 200, alpha: float = 0.01, kernel_width: float = 1.0, segments: int = 32,
                 compactness: float = 10.0, segmentation: str = "slic", baseline: float = 0.0, seed: int = 0,
                 batch_size: int = 256):
        self.layers = None
        self.samples = samples
        self.alpha = alpha
        self.kernel_width = kernel_width
        self.segments = segments
        self.compactness = compactness
        self.segmentation = segmentation
        self.baseline = baseline
        self.seed = seed
        self.batch_size = batch_size

    def draws(self, m: int, device) -> torch.Tensor:
        """The kept superpixels (samples, m) as Captum's default perturb_func draws them, one row per call."""
        return torch.bernoulli(torch.full((self.samples, m), 0.5), generator=self.generator(self.seed)).bool()

    def values(self, model, x, labels, t, clean):
        from sklearn.linear_model import Lasso

        if self.samples < 1 or self.kernel_width <= 0 or self.alpha < 0:
            raise ValueError(f"need samples >= 1, kernel_width > 0 and alpha >= 0; got samples={self.samples}, "
                             f"kernel_width={self.kernel_width}, alpha={self.alpha}")
        keeps = [self.draws(int(lab.max()) + 1, x.device).to(x.device) for lab in labels]
        out = []
        for i, (keep, y) in enumerate(zip(keeps, self.scores(model, x, labels, keeps, t))):
            w = cosine_weights(x[i], self.base(x[i]), labels[i], keep, self.kernel_width)
            # float32 data as Captum hands sklearn (its TensorDataset .float())
            fit = Lasso(alpha=self.alpha).fit(keep.float().cpu().numpy(), y.float().cpu().numpy(),
                                              sample_weight=w.float().cpu().numpy())
            out.append(torch.as_tensor(fit.coef_, device=x.device))
        return out
