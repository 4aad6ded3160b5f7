"""KPCA-CAM: projection of the activations on their first kernel principal component."""
import numpy as np
import torch

from .base import CAM

KERNELS = ("sigmoid", "rbf", "poly", "cosine", "linear")
SIGNS = ("mean", "sklearn")


def kernel_projection(acts: torch.Tensor, kernel: str = "sigmoid", gamma=None, sign: str = "mean") -> torch.Tensor:
    """(N, C, h, w) -> (N, h, w): scikit-learn's KernelPCA(1 component) of each image's centred (h w, C) matrix."""
    from sklearn.decomposition import KernelPCA

    if kernel not in KERNELS or sign not in SIGNS:
        raise ValueError(f"KPCA-CAM: kernel {kernel!r} / sign {sign!r}; choose kernel from {', '.join(KERNELS)} "
                         f"and sign from {', '.join(SIGNS)}")
    n, c, h, w = acts.shape
    out = []
    for a in acts.detach().cpu().numpy():
        m = a.reshape(c, -1).T
        proj = KernelPCA(n_components=1, kernel=kernel, gamma=gamma).fit_transform(m - m.mean(0))[:, 0]
        ref = a.mean(0).ravel()
        # orient to correlate positively with the mean activation (as Eigen-CAM's default), unless that is flat
        # (a LayerNorm's output averages to ~0 over channels everywhere: its sign would be rounding noise)
        if sign == "mean" and np.ptp(ref) > 1e-4 * np.abs(a).max() and np.dot(proj - proj.mean(), ref - ref.mean()) < 0:
            proj = -proj
        out.append(np.float32(proj).reshape(h, w))
    return torch.from_numpy(np.stack(out)).to(acts.device, acts.dtype)


class KPCACAM(CAM):
    """KPCA-CAM (Karmani et al. 2024; pytorch-grad-cam): Eigen-CAM with kernel PCA, scikit-learn's KernelPCA.

    scikit-learn fixes the component's sign so that its largest |value| is positive (svd_flip): deterministic, but
    not tied to what the layer responds to, so the map can come out inverted (mostly zero after the ReLU).
    sign='mean' (default) orients it to correlate positively with the mean activation, as Eigen-CAM here;
    sign='sklearn' is pytorch-grad-cam's map (and the default's where the mean activation is flat, as after
    a LayerNorm). gamma None: 1 / channels (scikit-learn's default).
    """
    name = "KPCA-CAM"
    family = "CAM"
    choices = {"kernel": KERNELS, "sign": SIGNS}
    needs_grads = False

    def __init__(self, layers=None, kernel: str = "sigmoid", gamma=None, sign: str = "mean"):
        self.layers = layers
        self.kernel = kernel
        self.gamma = gamma
        self.sign = sign

    def combine(self, fw, name, acts, grads):
        return kernel_projection(acts, self.kernel, self.gamma, self.sign)
