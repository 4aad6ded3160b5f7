"""ARCC against pytorch-grad-cam 1.5.7's metrics/arcc.py on the same images, maps and seed (resnet18, seeded,
BatchNorm calibrated, Grad-CAM maps, explicit targets)."""
import numpy as np
import pytest
import torch

from explorer.saliency import GradCAM
from explorer.saliency.evaluation import arcc

pgc = pytest.importorskip("pytorch_grad_cam")
tv = pytest.importorskip("torchvision")
from pytorch_grad_cam.metrics.arcc import ARCC  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SIZE = 64


@pytest.fixture(scope="module")
def case(calibrated):
    net = calibrated("resnet18", size=SIZE)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        t = net(x).argmax(1)
    return net, x, t, GradCAM("layer4")(net, x, t)


@pytest.mark.parametrize("seed", [3, 7])
def test_parity(case, unchanged, seed):
    net, x, t, maps = case
    with unchanged(net):
        got = arcc(net, x, maps, GradCAM("layer4"), t, seed=seed)
    with pgc.GradCAM(net, [net.layer4]) as base:
        torch.manual_seed(seed)  # the peer's ROAD noise comes from the global generator
        try:
            want = ARCC(base)(x, maps.numpy(), [ClassifierOutputTarget(int(c)) for c in t], net)
        finally:
            torch.seed()
    net.zero_grad(set_to_none=True)
    assert got["arcc"].shape == (2,) and got["arcc"].min() > 0.05  # ROAD > 0 on both: not the 3e-8 of ROAD = 0
    np.testing.assert_allclose(got["arcc"].numpy(), want, atol=1e-4, rtol=0)
    assert 0 < got["complexity"].min() and got["coherency"].max() <= 1
    assert got["road"].min() >= 0 and got["road"].max() <= 1


def test_bad_maps(case):
    net, x, t, maps = case
    with pytest.raises(ValueError, match="one \\(H, W\\) map per image"):
        arcc(net, x, maps[:1], GradCAM("layer4"), t)
