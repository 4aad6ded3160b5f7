"""Eigen-CAM: projection of the activations on their first principal direction, with a fixed sign."""
import torch

from .base import CAM

SIGNS = ("mean", "segeigencam", "none")


def eigen_projection(acts: torch.Tensor, sign: str = "mean") -> torch.Tensor:
    """(N, C, h, w) -> (N, h, w): centred M (Z x C) times its first right singular vector v1, sign fixed by `sign`."""
    if sign not in SIGNS:
        raise ValueError(f"unknown sign rule {sign!r}; choose one of {', '.join(SIGNS)}")
    n, c, h, w = acts.shape
    m = acts.flatten(2).transpose(1, 2)  # (N, Z, C)
    m = m - m.mean(1, keepdim=True)  # centre columns, as pytorch-grad-cam's get_2d_projection
    v1 = torch.linalg.svd(m.double(), full_matrices=False).Vh[:, 0, :].to(m.dtype)  # (N, C)
    proj = (m @ v1[:, :, None])[..., 0]  # (N, Z)
    if sign == "mean":
        # SVD's sign is arbitrary (BLAS-dependent): orient the map to correlate positively with the mean activation
        ref = acts.mean(1).flatten(1)
        s = torch.sign(((proj - proj.mean(1, keepdim=True)) * (ref - ref.mean(1, keepdim=True))).sum(1))
    elif sign == "segeigencam":
        # SegEigenCAM's rule: flip when the most negative value outweighs the most positive
        s = torch.where(proj.min(1).values.abs() > proj.max(1).values.abs(), -1.0, 1.0)
    else:
        s = torch.ones(n, device=acts.device)
    s = torch.where(s == 0, torch.ones_like(s), s)
    return (proj * s[:, None]).view(n, h, w)


class EigenCAM(CAM):
    """Eigen-CAM (Bany Muhammad and Yeasin 2020): class-independent first principal component of the activations."""
    name = "Eigen-CAM"
    family = "CAM"
    choices = {"sign": SIGNS}  # the panel offers these
    needs_grads = False

    def __init__(self, layers=None, sign: str = "mean"):
        self.layers = layers
        self.sign = sign

    def combine(self, fw, name, acts, grads):
        return eigen_projection(acts, self.sign)
