"""Shapley value sampling over superpixels (Captum's ShapleyValueSampling with a superpixel feature mask)."""
import torch

from .superpixels import Perturbation


class ShapleySampling(Perturbation):
    """Each superpixel gets its mean marginal gain over `samples` random orders: superpixels are switched from
    baseline to the image one by one, S_t after minus S_t before. Orders drawn as Captum's (torch.randperm) from
    a generator seeded with `seed` per image; Captum called per image after torch.manual_seed(seed) agrees."""
    name = "Shapley sampling"
    ranges = {"samples": (1, 200, 1), "segments": (2, 200, 1), "compactness": (0.1, 100.0, 0.1)}

    def __init__(self, samples: int = 10, segments: int = 32, compactness: float = 10.0, segmentation: str = "slic",
                 baseline: float = 0.0, seed: int = 0, batch_size: int = 256):
        self.layers = None
        self.samples = samples
        self.segments = segments
        self.compactness = compactness
        self.segmentation = segmentation
        self.baseline = baseline
        self.seed = seed
        self.batch_size = batch_size

    def values(self, model, x, labels, t, clean):
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1; got {self.samples}")
        ranks, keeps = [], []
        for lab in labels:
            m, gen = int(lab.max()) + 1, self.generator(self.seed)
            perm = torch.stack([torch.randperm(m, generator=gen) for _ in range(self.samples)]).to(x.device)
            rank = torch.empty_like(perm).scatter_(1, perm, torch.arange(m, device=x.device).expand_as(perm))
            steps = torch.arange(m - 1, device=x.device)  # the last step (all on) is x itself: S_t(x) is known
            ranks.append(rank)  # (S, M): the step at which each superpixel is switched on
            keeps.append(torch.cat([torch.zeros(1, m, dtype=torch.bool, device=x.device),  # all at baseline
                                    (rank[:, None, :] <= steps[None, :, None]).flatten(0, 1)]))  # (1 + S(M-1), M)
        out = []
        for i, (rank, s) in enumerate(zip(ranks, self.scores(model, x, labels, keeps, t))):
            n = len(rank)
            v = torch.cat([s[0].expand(n, 1), s[1:].view(n, -1), clean[i].expand(n, 1)], 1)  # (S, M + 1)
            out.append(v.diff(dim=1).gather(1, rank).mean(0))  # the gain of each superpixel's own step
        return out
