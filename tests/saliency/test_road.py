"""ROAD against pytorch-grad-cam 1.5.7's metrics/road.py on the same images, maps and seeds, and the sound
variant's removal of exactly the asked share of pixels where the peer's percentile threshold removes all ties."""
import numpy as np
import pytest
import torch

from explorer.saliency import GradCAM
from explorer.saliency.evaluation import road
from explorer.saliency.evaluation.road import kept

pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.metrics.road import ROADCombined, ROADLeastRelevantFirst, ROADMostRelevantFirst  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

TARGETS = [1, 4]


@pytest.fixture(scope="module")
def case():
    """A seeded small CNN, two 24 x 24 images and their Grad-CAM maps (a ReLU's zeros included)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                  torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(8, 5)).eval()
    x = torch.randn(2, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    return net, x, GradCAM("3")(net, x, TARGETS)


def peer(metric, net, x, maps, seed):
    torch.manual_seed(seed)  # the peer's imputation noise comes from the global generator
    try:
        return torch.from_numpy(np.asarray(metric(x, maps.numpy(), [ClassifierOutputTarget(t) for t in TARGETS], net)))
    finally:
        torch.seed()


def test_road_combined_matches_the_peer(case, unchanged):
    net, x, maps = case
    with unchanged(net):
        got = road(net, x, maps, TARGETS, variant="pytorch-grad-cam", seed=3)
    want = peer(ROADCombined(percentiles=[10, 20, 30, 40, 50, 60, 70, 80, 90]), net, x, maps, 3)
    assert got.shape == (2,) and (got - want).abs().max() < 1e-4, (got, want)
    assert (road(net, x, maps, TARGETS, variant="pytorch-grad-cam", seed=4) - want).abs().max() > 1e-6  # noise


@pytest.mark.parametrize("order,cls", [("most", ROADMostRelevantFirst), ("least", ROADLeastRelevantFirst)])
def test_road_one_share_matches_the_peer(case, unchanged, order, cls):
    """The peer's percentile p keeps p% of the pixels: ours removes 100 - p."""
    net, x, maps = case
    for p in (20, 80):
        with unchanged(net):
            got = road(net, x, maps, TARGETS, removed=(100 - p,), order=order, variant="pytorch-grad-cam", seed=p)
        want = peer(cls(percentile=p), net, x, maps, p)
        assert (got - want).abs().max() < 1e-4, (order, p)


def test_sound_variant_removes_exactly_the_share_where_the_map_has_ties():
    """A map that is 0 on 60% of its pixels: the peer's rule removes every pixel for 'most relevant 70%' and
    keeps the ties for 'least relevant 30%'; ours removes exactly 70% and 30%."""
    m = torch.zeros(10, 10)
    m.view(-1)[:40] = torch.linspace(0.1, 1, 40)
    gen = torch.Generator().manual_seed(0)
    assert (~kept(m, 70, True, "pytorch-grad-cam", gen)).sum() == 100
    assert (~kept(m, 70, True, "sound", gen)).sum() == 70
    assert (~kept(m, 30, False, "sound", gen)).sum() == 30
    assert (m[~kept(m, 30, True, "sound", gen)] >= m.flatten().sort().values[70]).all()  # the top 30%


def test_imputation_is_the_neighbours_mean():
    """One removed pixel inside a linear ramp is filled with its value (the weighted neighbour mean), noise 0."""
    from explorer.saliency.evaluation.road import impute

    img = torch.arange(25.0).view(1, 5, 5)
    keep = torch.ones(5, 5, dtype=torch.bool)
    keep[2, 2] = keep[2, 3] = False
    out = impute(img, keep, 0.0, torch.Generator())
    assert torch.allclose(out, img, atol=1e-5)


def test_road_refuses_bad_maps(case):
    net, x, maps = case
    with pytest.raises(ValueError, match="one \\(H, W\\) map per image"):
        road(net, x, maps[:1], TARGETS)
    with pytest.raises(ValueError, match="NaN or inf"):
        road(net, x, maps * float("nan"), TARGETS)
