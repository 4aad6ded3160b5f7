"""explorer.testing, the seeded stand-ins the tests and benchmarks share: BatchNorm statistics exactly those of the
images, stale ones reset, each layer's momentum kept; seeded torchvision models without touching the global RNG."""
import pytest
import torch
from torch import nn

from explorer.testing import calibrate_batchnorm, calibrated


def test_calibrate_batchnorm_takes_the_images_statistics():
    net = nn.Sequential(nn.BatchNorm2d(3, momentum=0.3), nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
    with torch.no_grad():
        net[0].running_mean.fill_(5.0)  # stale statistics: reset, not averaged in
    x = 2 * torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0)) + 1
    assert calibrate_batchnorm(net, x) is net and not net.training
    torch.testing.assert_close(net[0].running_mean, x.mean((0, 2, 3)), rtol=0, atol=1e-6)
    torch.testing.assert_close(net[0].running_var, x.transpose(0, 1).flatten(1).var(1), rtol=0, atol=1e-5)
    assert (net[0].momentum, net[2].momentum) == (0.3, 0.1) and int(net[2].num_batches_tracked) == 1


def test_calibrated_torchvision_model_is_seeded_and_leaves_the_global_rng():
    pytest.importorskip("torchvision")
    state = torch.get_rng_state()
    a, b = calibrated("resnet18", seed=3, size=32), calibrated("resnet18", seed=3, size=32)
    assert torch.equal(torch.get_rng_state(), state) and not a.training
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))  # the images of seed + 1
    with torch.no_grad():
        torch.testing.assert_close(a.bn1.running_mean, a.conv1(x).mean((0, 2, 3)), rtol=0, atol=1e-5)
