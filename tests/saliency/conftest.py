"""Fixtures shared by the saliency tests."""
import pytest
import torch


@pytest.fixture(scope="session")
def calibrated():
    """calibrated(name, seed=0, size=64): a torchvision model with seeded random weights, BatchNorm statistics from
    4 random size x size images (momentum None: their exact mean), in eval mode."""
    tv = pytest.importorskip("torchvision")

    def make(name: str, seed: int = 0, size: int = 64) -> torch.nn.Module:
        torch.manual_seed(seed)
        net = getattr(tv.models, name)(weights=None)
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = None
        with torch.no_grad():
            net.train()(torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(seed + 1)))
        return net.eval()
    return make
