"""Models people use, built once per test session: torchvision classifiers at 224 x 224, random weights (seeded),
BatchNorm statistics calibrated on a few images so the logits are not degenerate."""
import pytest
import torch
from torch import nn

from explorer.testing import calibrate_batchnorm

SIZE = 224


def smooth_images(n: int, seed: int, size: int = SIZE) -> torch.Tensor:
    """(n, 3, size, size) images with structure at several scales, about zero mean and unit spread (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 7, 7, generator=gen)
    fine = torch.rand(n, 3, 28, 28, generator=gen)
    up = lambda t: nn.functional.interpolate(t, size=(size, size), mode="bicubic", align_corners=False)
    return ((up(coarse) + 0.5 * up(fine)) - 0.75) / 0.35


def torchvision_net(name: str, seed: int = 0, n_classes: int = 10) -> nn.Module:
    """A torchvision classifier with seeded random weights (the global RNG untouched), BatchNorm calibrated."""
    pytest.importorskip("torchvision")
    from explorer.models import torchvision_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torchvision_model(name, n_classes=n_classes)  # ViT: its zero-initialised head drawn at random
    return calibrate_batchnorm(net, smooth_images(2, seed=100 + seed))


@pytest.fixture(scope="session")
def zoo():
    """zoo(name) -> the shared calibrated model (read-only: tests must not change it)."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = torchvision_net(name)
        return built[name]
    return get
