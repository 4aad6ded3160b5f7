"""Models people use, built once per test session: torchvision classifiers at 224 x 224, random weights (seeded),
BatchNorm statistics calibrated on a few images so the logits are not degenerate."""
import copy

import pytest
import torch
from torch import nn

SIZE = 224


def smooth_images(n: int, seed: int, size: int = SIZE) -> torch.Tensor:
    """(n, 3, size, size) images with structure at several scales, about zero mean and unit spread (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 7, 7, generator=gen)
    fine = torch.rand(n, 3, 28, 28, generator=gen)
    up = lambda t: nn.functional.interpolate(t, size=(size, size), mode="bicubic", align_corners=False)
    return ((up(coarse) + 0.5 * up(fine)) - 0.75) / 0.35


def calibrated(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """A copy whose BatchNorm running statistics are those of `images` (a train-mode pass), in eval mode."""
    model = copy.deepcopy(model)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one pass gives the batch's statistics exactly
    model.train()
    with torch.no_grad():
        model(images)
    for m in bns:
        m.momentum = 0.1
    return model.eval()


def torchvision_net(name: str, seed: int = 0, n_classes: int = 10) -> nn.Module:
    """A torchvision classifier with seeded random weights (the global RNG untouched), BatchNorm calibrated."""
    pytest.importorskip("torchvision")
    from explorer.models import torchvision_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torchvision_model(name, n_classes=n_classes)  # ViT: its zero-initialised head drawn at random
    return calibrated(net, smooth_images(2, seed=100 + seed))


@pytest.fixture(scope="session")
def zoo():
    """zoo(name) -> the shared calibrated model (read-only: tests must not change it)."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = torchvision_net(name)
        return built[name]
    return get
