"""GradientSHAP (Lundberg and Lee 2017, as Captum): expected gradients on random points between x and baselines."""
import torch

from .attribution import Attribution
from .batching import fitting_batch
from .util import run_model


class GradientSHAP(Attribution):
    """mean over samples of (x~ - b) * dS_t/dx at b + alpha (x~ - b): x~ = x + N(0, stdev^2), b drawn from the
    baselines (with replacement), alpha ~ U(0, 1). baselines: None (zeros), a number, or a tensor (M, C, H, W)."""
    name = "GradientSHAP"
    family = "Gradient"

    def __init__(self, samples: int = 8, stdev: float = 0.0, baselines=None, seed: int = 0, batch_size: int = 64):
        self.layers = None
        self.samples = samples
        self.stdev = stdev
        self.baselines = baselines
        self.seed = seed
        self.batch_size = batch_size

    def baseline_set(self, x: torch.Tensor) -> torch.Tensor:
        """The baseline distribution (M, C, H, W) on x's device."""
        b = self.baselines
        if b is None or isinstance(b, (int, float)):
            return torch.full_like(x[:1], float(b or 0.0))
        b = torch.as_tensor(b, dtype=x.dtype, device=x.device)
        if b.ndim == 3:
            b = b[None]
        if b.shape[1:] != x.shape[1:] or not len(b):
            raise ValueError(f"baselines must have shape (M, {', '.join(map(str, x.shape[1:]))}); "
                             f"got {tuple(b.shape)}")
        if not torch.isfinite(b).all():
            raise ValueError("baselines contain NaN or infinite values")
        return b

    def draws(self, x: torch.Tensor, m: int) -> tuple:
        """Baseline indices (N, S), noise (N, S, C, H, W) and alphas (N, S), from a generator seeded with seed."""
        gen = torch.Generator().manual_seed(self.seed)
        n, s = len(x), self.samples
        idx = torch.randint(m, (n, s), generator=gen)
        noise = torch.randn((n, s, *x.shape[1:]), generator=gen) * self.stdev
        alpha = torch.rand((n, s), generator=gen)
        return idx.to(x.device), noise.to(x.device, x.dtype), alpha.to(x.device, x.dtype)

    def attribute(self, model, x, resolve):
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1; got {self.samples}")
        if self.stdev < 0:
            raise ValueError(f"stdev must be >= 0; got {self.stdev}")
        base = self.baseline_set(x)
        with torch.no_grad():
            t = resolve(run_model(model, x))
        idx, noise, alpha = self.draws(x, len(base))
        xs = x[:, None] + noise  # (N, S, C, H, W)
        bs = base[idx]
        pts = (bs + alpha[..., None, None, None] * (xs - bs)).flatten(0, 1)  # image-major (N*S, C, H, W)
        ts = t.repeat_interleave(self.samples)
        grads, chunk = [], fitting_batch(model, x[:1], self.batch_size)
        for i in range(0, len(pts), chunk):
            with torch.enable_grad():
                p = pts[i:i + chunk].requires_grad_(True)
                out = run_model(model, p)
                (g,) = torch.autograd.grad(out.gather(1, ts[i:i + len(p), None]).sum(), p)
            grads.append(g)
        g = torch.cat(grads).view(xs.shape)
        return ((xs - bs) * g).mean(1)
