"""Fixtures shared by the saliency tests."""
import functools

import pytest
import torch


@pytest.fixture(scope="session")
def calibrated():
    """calibrated(name, seed=0, size=64, **kw) -> a torchvision model (`name` under torchvision.models, e.g.
    'resnet18' or 'segmentation.lraspp_mobilenet_v3_large'; kw to its constructor) with seeded random weights (the
    global RNG untouched), BatchNorm statistics from 4 random size x size images (momentum None: their exact mean),
    in eval mode (explorer.testing.calibrated). Built once per session for each argument set (the last 4 kept):
    shared and read-only."""
    pytest.importorskip("torchvision")

    from explorer.testing import calibrated as build_net

    @functools.lru_cache(maxsize=4)  # vgg11_bn is 0.5 GB: not every size of it for the whole session
    def build(name: str, seed: int, size: int, kw: tuple) -> torch.nn.Module:
        return build_net(name, seed, size, **dict(kw))

    def make(name: str, seed: int = 0, size: int = 64, **kw) -> torch.nn.Module:
        return build(name, seed, size, tuple(sorted(kw.items())))  # one cache key however the arguments are named
    return make


@pytest.fixture(scope="session")
def arch_case(calibrated, tiny_vit, vit_tokens):
    """arch_case(arch, size) -> (model, 2 seeded random images, pytorch-grad-cam's reshape_transform or None) for
    'resnet18', 'vgg11_bn', 'mobilenet_v3_small' (calibrated at size) or 'vit' (tests/conftest.py's tiny ViT: 32 px
    whatever the size)."""
    def case(arch: str, size: int):
        size = 32 if arch == "vit" else size
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(5))
        return (tiny_vit, x, vit_tokens) if arch == "vit" else (calibrated(arch, size=size), x, None)
    return case
