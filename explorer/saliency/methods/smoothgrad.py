"""Input-gradient methods: Simonyan saliency, SmoothGrad, input x gradient, integrated gradients."""
import numpy as np
import torch
import torch.nn.functional as F

from .base import Saliency, normalize, resolve_targets
from .batching import fitting_batch


def noise_sigma(x: torch.Tensor, noise_level: float) -> torch.Tensor:
    """Per-image noise std (N, 1, 1, 1): noise_level * (max x - min x), as in the SmoothGrad paper."""
    if noise_level < 0:
        raise ValueError(f"noise_level must be >= 0; got {noise_level}")
    flat = x.detach().flatten(1)
    return (noise_level * (flat.max(1).values - flat.min(1).values)).view(-1, 1, 1, 1)


class InputSaliency(Saliency):
    """A map at input resolution from attributions (N, C, H, W), reduced over channels."""

    def attribute(self, fw, t) -> torch.Tensor:  # (N, C, H, W)
        raise NotImplementedError

    def reduce(self, attr):  # (N, C, H, W) -> (N, H, W)
        return attr.abs().amax(1)

    def raw_attributions(self, fw, targets="predicted", labels=None):  # (N, C, H, W): attribute(fw, t)
        return self.attribute(fw, resolve_targets(targets, fw.logits, labels, objects=True))

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        t = resolve_targets(targets, fw.logits, labels, objects=True)  # class indices or a Target
        with torch.no_grad():
            m = F.relu(self.reduce(self.attribute(fw, t).detach()))
            return m if raw else normalize(m)


class InputGradient(InputSaliency):
    """Gradient saliency (Simonyan et al. 2014): max over channels of |dS_c/dx|."""
    name = "Input gradient"
    family = "Gradient"

    def attribute(self, fw, t):
        return self.grads(fw, t, [fw.x])[0]


class InputXGradient(InputSaliency):
    """Input x gradient (Shrikumar et al. 2016): |sum over channels of x * dS_c/dx|."""
    name = "Input x gradient"
    family = "Gradient"

    def attribute(self, fw, t):
        return fw.x.detach() * self.grads(fw, t, [fw.x])[0]

    def reduce(self, attr):
        return attr.sum(1).abs()


class SmoothGrad(InputSaliency):
    """SmoothGrad (Smilkov et al. 2017): gradient averaged over x + N(0, sigma^2); max over channels of |mean|."""
    name = "SmoothGrad"
    family = "Gradient"
    reusable = False

    def __init__(self, samples: int = 20, noise_level: float = 0.1, seed: int = 0, batch_size: int = 256):
        self.layers = None
        self.samples = samples
        self.noise_level = noise_level
        self.seed = seed
        self.batch_size = batch_size

    def noise(self, x: torch.Tensor):
        """The noise tensors, drawn in order from a generator seeded with self.seed (for reproducible parity)."""
        gen = torch.Generator(device=x.device).manual_seed(self.seed)
        sigma = noise_sigma(x, self.noise_level)
        return [torch.randn(x.shape, generator=gen, device=x.device) * sigma for _ in range(self.samples)]

    def attribute(self, fw, t):
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1; got {self.samples}")
        if len(fw.x) == 0:
            raise ValueError("no images: the batch is empty")
        x, noise = fw.x.detach(), self.noise(fw.x)
        chunk = max(1, fitting_batch(fw.model, x[:1], self.batch_size) // len(x))  # noisy copies per forward pass
        total = torch.zeros_like(x)
        for i in range(0, self.samples, chunk):
            eps = torch.stack(noise[i:i + chunk])  # (k, N, C, H, W)
            nf = self.forward(fw.model, (x + eps).flatten(0, 1))
            total += self.grads(nf, t.repeat(len(eps)), [nf.x])[0].view(eps.shape).sum(0)
        return total / self.samples


class IntegratedGradients(InputSaliency):
    """Integrated gradients (Sundararajan et al. 2017), Gauss-Legendre path as Captum's default; |sum over channels|."""
    name = "Integrated gradients"
    family = "Gradient"
    reusable = False

    def __init__(self, steps: int = 50, baseline: float = 0.0, batch_size: int = 512):
        self.layers = None
        self.steps = steps
        self.baseline = baseline
        self.batch_size = batch_size

    def attribute(self, fw, t):
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1; got {self.steps}")
        if len(fw.x) == 0:
            raise ValueError("no images: the batch is empty")
        x = fw.x.detach()
        base = torch.full_like(x, self.baseline)
        nodes, w = np.polynomial.legendre.leggauss(self.steps)
        alphas, weights = 0.5 * (1 + nodes), 0.5 * w
        chunk = max(1, fitting_batch(fw.model, x[:1], self.batch_size) // len(x))  # path points per forward pass
        total = torch.zeros_like(x)
        for i in range(0, self.steps, chunk):
            a = torch.as_tensor(alphas[i:i + chunk], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1, 1)
            wt = torch.as_tensor(weights[i:i + chunk], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1, 1)
            path = (base + a * (x - base)).flatten(0, 1)  # (k*N, C, H, W), step-major
            nf = self.forward(fw.model, path)
            g = self.grads(nf, t.repeat(len(a)), [nf.x])[0].view(len(a), *x.shape)
            total += (wt * g).sum(0)
        return (x - base) * total

    def reduce(self, attr):
        return attr.sum(1).abs()
