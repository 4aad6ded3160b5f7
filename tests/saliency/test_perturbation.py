"""LIME, KernelSHAP, feature ablation and Shapley value sampling over superpixels: known answers on linear and
additive models, and parity with Captum (same feature masks, baseline and seed) within 1e-4.

Seeds: each image's draws come from a generator seeded with `seed`, in Captum's order of calls (torch.bernoulli for
LIME, torch.multinomial then torch.randn per KernelSHAP row, torch.randperm per Shapley order), so Captum called
per image after torch.manual_seed(seed) draws the same perturbations, and a batch equals its images."""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.saliency import LIME, FeatureAblation, KernelSHAP, ShapleySampling
from explorer.saliency.methods.superpixels import feature_masks, grid_labels

captum_attr = pytest.importorskip("captum.attr")
pytest.importorskip("skimage")
ATOL = 1e-4


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum warns about batches and feature masks
        yield


def smooth(n, c, size, seed=1):
    """Smooth random images (4 x 4 noise, bilinear): SLIC finds several superpixels (white noise gives one)."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, c, 4, 4, generator=g), size=(size, size), mode="bilinear")


class Squares(nn.Module):
    """S_k(x) = sum_p W[k, p] x_p^2: additive over pixels (so over superpixels) but not linear."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) ** 2) @ self.w.T


def per_superpixel(values, labels):
    """(N, P) per-pixel contributions summed over each superpixel, spread back over its pixels: (N, H, W)."""
    out = []
    for v, lab in zip(values, labels):
        sums = torch.zeros(int(lab.max()) + 1, dtype=v.dtype).index_add_(0, lab.flatten(), v)
        out.append(sums[lab])
    return torch.stack(out)


def test_grid_labels_are_row_major_cells():
    lab = grid_labels(4, 6, 6)
    assert lab.tolist() == [[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]]


def test_feature_ablation_on_a_linear_model_is_weight_times_difference_per_superpixel(unchanged):
    """S_t = w_t . x + c: ablating superpixel j drops S_t by sum over its pixels of w_t,p (x_p - b)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 8 * 8, 3)).double().eval()
    x, t, b = torch.randn(2, 2, 8, 8).double(), torch.tensor([2, 0]), 0.5  # float32 values: the input's dtype
    with unchanged(net):
        attr = FeatureAblation(segments=4, segmentation="grid", baseline=b).attributions(net, x, t)
    w = net[1].weight.detach()[t]  # (N, C*H*W)
    labels = [torch.as_tensor(grid_labels(8, 8, 4))] * 2
    expected = per_superpixel((w.view(2, 2, 64) * (x - b).view(2, 2, 64)).sum(1), labels)
    torch.testing.assert_close(attr, expected[:, None].expand(2, 2, 8, 8), atol=1e-12, rtol=0)


@pytest.mark.parametrize("cls, kw", [(ShapleySampling, {"samples": 3}), (KernelSHAP, {"samples": 64})])
def test_shapley_values_of_an_additive_model_are_each_superpixels_contribution(cls, kw, unchanged):
    """On S_t = sum_p W_t,p x_p^2 every order gives superpixel j the gain sum_{p in j} W_t,p (x_p^2 - b^2): Shapley
    sampling is exact with any number of orders, and KernelSHAP's regression fits the additive S_t exactly."""
    net = Squares(torch.randn(3, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).eval()
    x, t, b = torch.randn(2, 1, 8, 8).double(), torch.tensor([1, 2]), -0.25
    with unchanged(net):
        attr = cls(segments=4, segmentation="grid", baseline=b, **kw).attributions(net, x, t)
    labels = [torch.as_tensor(grid_labels(8, 8, 4))] * 2
    expected = per_superpixel(net.w.detach()[t] * (x.flatten(1) ** 2 - b ** 2), labels)
    torch.testing.assert_close(attr[:, 0], expected, atol=1e-9, rtol=0)


def test_bad_knobs_are_refused_by_name(tiny_cnn):
    x = smooth(1, 1, 8)
    with pytest.raises(ValueError, match="unknown segmentation 'watershed'"):
        FeatureAblation(segmentation="watershed")(tiny_cnn, x)
    with pytest.raises(ValueError, match="baseline must be a finite number"):
        FeatureAblation(baseline=float("nan"))(tiny_cnn, x)
    with pytest.raises(ValueError, match="samples must be >= 1"):
        ShapleySampling(samples=0)(tiny_cnn, x)
    with pytest.raises(ValueError, match="KernelSHAP needs samples >= 2"):
        KernelSHAP(samples=1)(tiny_cnn, x)
    with pytest.raises(ValueError, match="kernel_width > 0"):
        LIME(kernel_width=0.0)(tiny_cnn, x)


def captum_per_image(peer_cls, model, x, t, labels, baseline, seed, **kw):
    """Captum on a copy of model, one image at a time after torch.manual_seed(seed), with our feature masks."""
    out = []
    for i in range(len(x)):
        torch.manual_seed(seed)
        out.append(peer_cls(copy.deepcopy(model)).attribute(x[i:i + 1].clone(), target=int(t[i]), baselines=baseline,
                                                            feature_mask=labels[i][None, None], **kw))
    return torch.cat(out)


def pairs(samples, seed):
    """(ours, Captum's class, our knobs, Captum's keywords) for the four methods."""
    s = samples
    return [(FeatureAblation, captum_attr.FeatureAblation, {}, {}),
            (ShapleySampling, captum_attr.ShapleyValueSampling, {"samples": s // 20, "seed": seed},
             {"n_samples": s // 20}),
            (LIME, captum_attr.Lime, {"samples": s, "seed": seed}, {"n_samples": s}),
            (KernelSHAP, captum_attr.KernelShap, {"samples": s, "seed": seed}, {"n_samples": s})]


def check_parity(model, x, t, segments, samples, unchanged, baseline=0.0, seed=3, skip=()):
    labels = feature_masks(x, segments)
    assert min(int(lab.max()) for lab in labels) >= 3, "too few superpixels for a telling comparison"
    for ours_cls, peer_cls, ours_kw, peer_kw in pairs(samples, seed):
        if ours_cls in skip:
            continue
        with unchanged(model):
            ours = ours_cls(segments=segments, baseline=baseline, **ours_kw).attributions(model, x, t)
        theirs = captum_per_image(peer_cls, model, x, t, labels, baseline, seed, **peer_kw)
        assert theirs.abs().max() > 1e-3, f"{peer_cls.__name__} gave ~zero: the comparison would be empty"
        torch.testing.assert_close(ours, theirs.to(ours.dtype), atol=ATOL, rtol=0,
                                   msg=lambda m, c=ours_cls: f"{c.name}: {m}")


def test_parity_with_captum_on_the_tiny_cnn(tiny_cnn, unchanged):
    """The tiny CNN's logits are small (~1e-2): Captum's default Lasso (alpha 0.01) zeroes LIME there, so LIME is
    compared on the digits CNN below."""
    check_parity(tiny_cnn, smooth(3, 1, 16), torch.tensor([0, 2, 1]), 12, 100, unchanged, baseline=0.2,
                 skip=(LIME,))


def test_parity_with_captum_on_the_digits_cnn(trained_session, unchanged):
    x = trained_session.data.inputs("test")[:3]
    check_parity(trained_session.model, x, torch.tensor([3, 5, 8]), 16, 120, unchanged)


@pytest.mark.slow
def test_parity_with_captum_on_resnet18(unchanged):
    """torchvision resnet18, seeded random weights, BatchNorm calibrated on a few images, eval, at 64 x 64; its head
    scaled by 100 so the logits differ by units, not hundredths (else Captum's Lasso, alpha 0.01, zeroes LIME)."""
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = tv.models.resnet18(weights=None, num_classes=10)
    net.train()
    with torch.no_grad():
        net(torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
        net.fc.weight.mul_(100)
    net.eval()
    check_parity(net, smooth(2, 3, 64), torch.tensor([3, 7]), 16, 60, unchanged)
