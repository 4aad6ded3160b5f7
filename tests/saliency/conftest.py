"""Fixtures shared by the saliency tests."""
import functools

import pytest
import torch


@pytest.fixture(scope="session")
def calibrated():
    """calibrated(name, seed=0, size=64, **kw) -> a torchvision model (`name` under torchvision.models, e.g.
    'resnet18' or 'segmentation.lraspp_mobilenet_v3_large'; kw to its constructor) with seeded random weights (the
    global RNG untouched), BatchNorm statistics from 4 random size x size images (momentum None: their exact mean),
    in eval mode. Built once per session for each argument set (the last 4 kept): shared and read-only."""
    tv = pytest.importorskip("torchvision")

    @functools.lru_cache(maxsize=4)  # vgg11_bn is 0.5 GB: not every size of it for the whole session
    def make(name: str, seed: int = 0, size: int = 64, **kw) -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = functools.reduce(getattr, name.split("."), tv.models)(weights=None, **kw)
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = None
        with torch.no_grad():
            net.train()(torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(seed + 1)))
        return net.eval()
    return make
