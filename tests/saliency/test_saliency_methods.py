"""Known answers worked out by hand, and the invariants of the saliency methods."""
from collections import OrderedDict

import pytest
import torch
from torch import nn

from explorer.saliency import METHODS, EigenCAM, GradCAM, GradCAMpp, NormGrad, explain
from explorer.saliency.methods.eigencam import eigen_projection


@pytest.fixture(scope="module")
def cnn_session(digits):
    """The default CNN with seeded random weights: the checks hold for any weights, and it needs no training."""
    from explorer import Session

    return Session.open(digits, "cnn", device="cpu", epochs=0, seed=0)


def one_by_one():
    """1x1 conv (weights 1, -1, 2; no bias) -> GAP -> Linear W = [[1, 0, 1], [0, 1, 0]] (no bias)."""
    conv = nn.Conv2d(1, 3, 1, bias=False)
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0, 2.0]).view(3, 1, 1, 1))
        fc.weight.copy_(torch.tensor([[1.0, 0, 1], [0, 1, 0]]))
    return nn.Sequential(OrderedDict(conv=conv, gap=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=fc)).eval()


X = torch.tensor([[1.0, -2.0], [3.0, 0.0]]).view(1, 1, 2, 2)


def test_gradcam_known_answer(unchanged):
    model = one_by_one()
    with unchanged(model):
        # class 0: CAM = sum_k W_0k A_k = x + 2x = 3x; Grad-CAM weights W_0k / Z (Z = 4) -> raw ReLU(3x) / 4
        raw = GradCAM("conv")(model, X, targets=0, raw=True)
        assert torch.allclose(raw[0], torch.tensor([[0.75, 0.0], [2.25, 0.0]]), atol=1e-6)
        assert torch.allclose(GradCAM("conv")(model, X, targets=0)[0], torch.tensor([[1 / 3, 0.0], [1.0, 0.0]]),
                              atol=1e-6)
        # class 1: CAM = -x -> ReLU keeps only the -2 pixel
        assert torch.allclose(GradCAM("conv")(model, X, targets=1)[0], torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
                              atol=1e-6)


def test_gradcampp_known_answer():
    # g_k = W_0k / 4 everywhere; alpha_k = 1 / (2 + S_k g_k): channel 0 (S = 2): 0.4; channel 1 (g = 0): 0;
    # channel 2 (S = 4): 1/3. w_k = sum_ij alpha ReLU(g) = 4 alpha g: 0.4, 0, 1/3 -> L = 0.4 x + (1/3) 2x
    raw = GradCAMpp("conv", epsilon=0)(one_by_one(), X, targets=0, raw=True)
    k = 0.4 + 2 / 3
    assert torch.allclose(raw[0], torch.tensor([[k, 0.0], [3 * k, 0.0]]), atol=1e-6)


def test_gradcam_equals_cam_before_gap(cnn_session):
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:6]
    # relu3 feeds GAP then fc: Grad-CAM = CAM = sum_k W_ck A_k (up to the positive 1/Z)
    from explorer.capture import capture
    with torch.no_grad(), capture(model, ["relu3"]) as rec:
        pred = model(x).argmax(1)
    a = rec.output("relu3")
    cam = torch.relu(torch.einsum("nk,nkhw->nhw", model.fc.weight[pred], a))
    up = torch.nn.functional.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    lo, hi = up.flatten(1).min(1).values, up.flatten(1).max(1).values
    want = (up - lo[:, None, None]) / (hi - lo + 1e-7)[:, None, None]
    assert torch.allclose(GradCAM("relu3")(model, x), want, atol=1e-5)


class Scaled(nn.Module):
    """The model with its logits multiplied by c."""

    def __init__(self, net, c):
        super().__init__()
        self.net, self.c = net, c

    def forward(self, x):
        return self.net(x) * self.c


def test_logit_scale_gradcam_invariant_gradcampp_not(cnn_session):
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:8]
    scaled = Scaled(model, 1e3)  # large enough that sum(A) g moves alpha = 1 / (2 + sum(A) g) on random weights
    assert torch.allclose(GradCAM("conv3")(model, x), GradCAM("net.conv3")(scaled, x), atol=1e-5)
    diff = (GradCAMpp("conv3", epsilon=0)(model, x) - GradCAMpp("net.conv3", epsilon=0)(scaled, x)).abs().max()
    assert diff > 1e-2


# noise per batch (Random-CAM draws one weight row per image of the batch, as pytorch-grad-cam); KPCA-CAM is tested
# on shared activations below: its kernel eigenvector turns the 1e-7 difference between a batched and a single
# convolution into 4e-5 on the map (an eigengap of 6e-4 on the default CNN), the method's conditioning, not a mix-up
DETERMINISTIC = [m for m in METHODS if m not in ("SmoothGrad", "Smooth Grad-CAM++", "GradientSHAP", "Random-CAM",
                                                 "KPCA-CAM")]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_batched_equals_per_image(cnn_session, name):
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:5]
    targets = torch.tensor([0, 3, 9, 2, 2])
    batched = explain(model, x, name, targets=targets)
    single = torch.cat([explain(model, x[i:i + 1], name, targets=int(targets[i])) for i in range(len(x))])
    assert torch.allclose(batched, single, atol=1e-5)


def test_kpca_cam_maps_each_image_on_its_own():
    """KPCA-CAM fits one kernel PCA per image: a batch's projections are each image's alone, whatever its
    neighbours (one fit over the batch would mix them)."""
    from explorer.saliency.methods.kpcacam import kernel_projection

    acts = torch.randn(4, 6, 5, 5, generator=torch.Generator().manual_seed(0)).relu()
    batched = kernel_projection(acts)
    for i in range(4):
        assert torch.equal(batched[i:i + 1], kernel_projection(acts[i:i + 1]))
    other = acts.clone()
    other[1:] = other[1:].flip(0) * 3  # other neighbours: image 0's map unchanged
    assert torch.equal(kernel_projection(other)[0], batched[0])


def test_eigencam_sign_stable_under_svd_flip(cnn_session, monkeypatch):
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:6]
    before = {s: EigenCAM("conv3", sign=s)(model, x) for s in ("mean", "segeigencam", "none")}
    svd = torch.linalg.svd

    def flipped(m, full_matrices=True):
        u, s, vh = svd(m, full_matrices=full_matrices)
        return type(u)if False else torch.return_types.linalg_svd((-u, s, -vh))
    monkeypatch.setattr(torch.linalg, "svd", flipped)
    for s in ("mean", "segeigencam"):
        assert torch.allclose(EigenCAM("conv3", sign=s)(model, x), before[s], atol=1e-6)
    assert not torch.allclose(EigenCAM("conv3", sign="none")(model, x), before["none"], atol=1e-3)


def test_eigencam_segeigencam_rule_unchanged_when_activations_negated():
    a = torch.randn(3, 5, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(eigen_projection(a, "segeigencam"), eigen_projection(-a, "segeigencam"), atol=1e-5)
    # the mean rule follows the activations: it orients the map like mean_k A_k, so negating A negates the map
    assert torch.allclose(eigen_projection(a, "mean"), -eigen_projection(-a, "mean"), atol=1e-5)


def test_normgrad_forms_known_answer():
    model = one_by_one()
    # identity form at conv: ||g_u|| ||A_u||; g_u = W_0 / 4 = (1, 0, 1) / 4, A_u = x (1, -1, 2)
    raw = NormGrad("conv")(model, X, targets=0, raw=True)
    want = (2 ** 0.5 / 4) * (6 ** 0.5) * X[0, 0].abs()
    assert torch.allclose(raw[0], want, atol=1e-6)
    # conv form: 1x1 kernel -> ||unfold(x)_u|| = |x_u|
    raw = NormGrad("conv", form="conv")(model, X, targets=0, raw=True)
    assert torch.allclose(raw[0], (2 ** 0.5 / 4) * X[0, 0].abs(), atol=1e-6)
    # selective: ||ReLU(A_u * g_u)|| = ||ReLU((x, 0, 2x) / 4)||
    raw = NormGrad("conv", form="selective")(model, X, targets=0, raw=True)
    assert torch.allclose(raw[0], X[0, 0].clamp_min(0) * 5 ** 0.5 / 4, atol=1e-6)


def test_normgrad_multilayer_is_product(cnn_session):
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:4]
    from explorer.saliency import normalize
    a, b = (normalize(NormGrad(n)(model, x, raw=True)) for n in ("conv1", "conv2"))  # at input size: no resize
    assert torch.allclose(NormGrad(["conv1", "conv2"])(model, x), normalize(a * b), atol=1e-6)


def test_multilayer_cam_is_mean_of_normalised(cnn_session):
    from explorer.saliency import normalize
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:4]
    # conv1 and conv2 are at input size, so each layer's map is normalize(its raw map), with no resize
    a, b = (normalize(GradCAM(n)(model, x, raw=True)) for n in ("conv1", "conv2"))
    assert torch.allclose(GradCAM(["conv1", "conv2"])(model, x), normalize((a + b) / 2), atol=1e-6)


def test_cfcam_filters_differ_and_are_documented(cnn_session):
    from explorer.saliency import CFCAM
    from explorer.saliency.methods.cfcam import smooth
    g = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    # a constant map passes both filters' interior unchanged up to the border; the bilateral kernel depends on g
    assert not torch.allclose(smooth(g, "gaussian"), smooth(g, "bilateral"))
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:3]
    for f in ("gaussian", "bilateral"):
        m = CFCAM("conv3", filter=f)(model, x)
        assert m.shape == (3, 8, 8) and torch.isfinite(m).all()
    with pytest.raises(ValueError, match="gaussian"):
        CFCAM("conv3", filter="median")(model, x)


def test_noise_free_smooth_methods_reduce_to_plain(cnn_session):
    from explorer.saliency import InputGradient, SmoothGrad, SmoothGradCAMpp
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:4]
    # sigma = 0: every D_p = g^p, so Smooth Grad-CAM++ is eq. 19 exactly; SmoothGrad is the plain gradient
    assert torch.allclose(SmoothGradCAMpp("conv3", samples=3, noise_level=0.0)(model, x),
                          GradCAMpp("conv3", epsilon=0)(model, x), atol=1e-5)
    assert torch.allclose(SmoothGrad(samples=3, noise_level=0.0)(model, x), InputGradient()(model, x), atol=1e-6)
    # with noise, the same seed gives the same map and another seed a different one
    a = SmoothGrad(samples=4, noise_level=0.3, seed=1)(model, x)
    assert torch.equal(a, SmoothGrad(samples=4, noise_level=0.3, seed=1)(model, x))
    assert not torch.allclose(a, SmoothGrad(samples=4, noise_level=0.3, seed=2)(model, x))


def test_integrated_gradients_completeness(cnn_session):
    from explorer.saliency import IntegratedGradients
    model, x = cnn_session.model, cnn_session.data.inputs("test")[:4]
    ig = IntegratedGradients(steps=64)
    fw = ig.forward(model, x)
    t = fw.logits.argmax(1)
    attr = ig.attribute(fw, t)
    with torch.no_grad():
        gap = model(x).gather(1, t[:, None])[:, 0] - model(torch.zeros_like(x)).gather(1, t[:, None])[:, 0]
    # sum of attributions = S(x) - S(baseline), up to the quadrature error (ReLU kinks)
    assert torch.allclose(attr.sum(dim=(1, 2, 3)), gap, rtol=0.05, atol=0.05)


def test_gradcampp_alpha_is_eq19_without_epsilon():
    from explorer.saliency.methods.gradcam import gradcampp_alpha
    # one channel, 2x2: sum A = S; alpha = 1 / (2 + S g) where g != 0, 0 where g = 0 or the denominator vanishes
    g = torch.tensor([0.5, 0.0, 1e-4, 0.25]).view(1, 1, 2, 2)
    for s in (4.0, -4.0):  # -4: 2 g^2 + S g^3 = 0 at g = 0.5 (pytorch-grad-cam gives g^2 / 1e-6 = 250000 there)
        a = torch.full((1, 1, 2, 2), s / 4)
        alpha = gradcampp_alpha(a, g).flatten()
        assert torch.isfinite(alpha).all()
        want = [1 / (2 + s * 0.5) if s > 0 else 0.0, 0.0, 1 / (2 + s * 1e-4), 1 / (2 + s * 0.25)]
        assert torch.allclose(alpha, torch.tensor(want), rtol=1e-5), (alpha, want)
    # tiny gradients keep alpha = 1/2 (the peer's eps would shrink it towards 0)
    assert torch.allclose(gradcampp_alpha(torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 1e-5)), torch.tensor(0.5))


def test_smooth_gradcampp_numerator_d1_is_the_paper_as_printed(cnn_session):
    from explorer.saliency import GradCAM, SmoothGradCAMpp
    from explorer.saliency.methods.util import normalize, upsample

    model, x = cnn_session.model, cnn_session.data.inputs("test")[:3]
    fw = GradCAM("conv3").forward(model, x)
    score = fw.logits.gather(1, fw.logits.argmax(1, keepdim=True)).sum()
    g = torch.autograd.grad(score, fw.acts["conv3"], retain_graph=True)[0]
    a = fw.acts["conv3"].detach()
    # sigma = 0: D_p = g^p, so alpha = g / (2 g^2 + sum A g^3) with the paper's D1 on top
    denom = 2 * g ** 2 + a.sum(dim=(2, 3), keepdim=True) * g ** 3
    alpha = torch.where(denom != 0, g / torch.where(denom != 0, denom, torch.ones_like(denom)), 0.0)
    w = (alpha * g.clamp_min(0)).sum(dim=(2, 3))
    want = normalize(upsample(normalize(torch.relu((w[:, :, None, None] * a).sum(1))), x.shape[-2:]))
    got = SmoothGradCAMpp("conv3", samples=2, noise_level=0.0, numerator="D1")(model, x)
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, SmoothGradCAMpp("conv3", samples=2, noise_level=0.0)(model, x), atol=1e-3)
    with pytest.raises(ValueError, match="choose one of D2, D1"):
        SmoothGradCAMpp("conv3", numerator="D3")(model, x)
