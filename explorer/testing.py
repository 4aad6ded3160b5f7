"""Seeded stand-ins for the models people use, shared by the tests and the benchmarks (captum.testing's role):
torchvision classifiers with random weights whose BatchNorm statistics are those of a few images, so their logits
are not degenerate. Nothing here downloads."""
from __future__ import annotations

import functools

import torch
from torch import nn


def calibrate_batchnorm(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """model itself, its BatchNorm running statistics exactly those of `images` (reset, then one train-mode pass
    as a cumulative average: momentum None, each layer's momentum restored after), in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(images)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    return model.eval()


def calibrated(name: str, seed: int = 0, size: int = 64, **kw) -> nn.Module:
    """torchvision.models' `name` (dotted for a submodule: 'segmentation.lraspp_mobilenet_v3_large'; kw to its
    constructor) with weights=None drawn from `seed` (the global RNG untouched), BatchNorm statistics of 4 random
    size x size images (seeded with seed + 1), in eval mode."""
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = functools.reduce(getattr, name.split("."), torchvision.models)(weights=None, **kw)
    images = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
    return calibrate_batchnorm(net, images)
