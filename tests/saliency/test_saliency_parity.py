"""Parity with pytorch-grad-cam (CAMs, same normalisation and resize) and Captum (input gradients), within 1e-4."""
import copy

import numpy as np
import pytest
import torch

from explorer.saliency import EigenCAM, GradCAM, GradCAMpp, InputGradient, IntegratedGradients, SmoothGrad


@pytest.fixture(scope="module")
def cnn_session(digits):
    """The default CNN with seeded random weights: the checks hold for any weights, and it needs no training."""
    from explorer import Session

    return Session.open(digits, "cnn", device="cpu", epochs=0, seed=0)

ATOL = 1e-4


class Scaled(torch.nn.Module):
    """The model with its logits multiplied by c."""

    def __init__(self, net, c):
        super().__init__()
        self.net, self.c = net, c

    def forward(self, x):
        return self.net(x) * self.c


@pytest.fixture(scope="module")
def case(cnn_session):
    model = copy.deepcopy(cnn_session.model)  # the peers call eval() and fill .grad: keep the shared one clean
    for m in model.modules():
        # pytorch-grad-cam stores the hooked tensor itself, which a following in-place ReLU then rewrites (conv3's
        # "activation" becomes ReLU(conv3)); our capture() records a copy. Compare on the same maths: no in-place.
        if hasattr(m, "inplace"):
            m.inplace = False
    x = cnn_session.data.inputs("test")[:8]
    targets = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    return model, x, targets


def _gradcam_peer(cls, model, layers, x, targets):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with cls(model=model, target_layers=[dict(model.named_modules())[n] for n in layers]) as cam:
        return torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets]))


@pytest.mark.parametrize("layers", [["conv3"], ["conv2"], ["conv2", "conv3"]])
@pytest.mark.parametrize("ours", [GradCAM, GradCAMpp])
def test_gradcam_family_matches_pytorch_grad_cam(case, layers, ours):
    pgc = pytest.importorskip("pytorch_grad_cam")
    model, x, targets = case
    peer = {GradCAM: pgc.GradCAM, GradCAMpp: pgc.GradCAMPlusPlus}[ours]
    want = _gradcam_peer(peer, model, layers, x, targets)  # unscaled logits: Grad-CAM++ has the peer's epsilon
    got = ours(layers)(model, x, targets=targets)
    assert torch.allclose(got, want, atol=ATOL), (got - want).abs().max()


def test_gradcampp_epsilon_zero_is_eq19_and_differs_on_unscaled_logits(case):
    pgc = pytest.importorskip("pytorch_grad_cam")
    model, x, targets = case
    # the peer adds eps = 1e-6 to alpha's denominator 2 g^2 + sum(A) g^3, which is not small next to g^2 when
    # |g| ~ 1e-3 (as here): epsilon=0 (eq. 19 bare) differs on unscaled logits; with logits scaled by 1e3 the
    # peer's eps is negligible and it agrees with epsilon=0
    want = _gradcam_peer(pgc.GradCAMPlusPlus, model, ["conv3"], x, targets)
    assert (GradCAMpp("conv3", epsilon=0)(model, x, targets=targets) - want).abs().max() > 1e-2
    scaled = Scaled(model, 1e3)
    want = _gradcam_peer(pgc.GradCAMPlusPlus, scaled, ["net.conv3"], x, targets)
    assert torch.allclose(GradCAMpp("net.conv3", epsilon=0)(scaled, x, targets=targets), want, atol=ATOL)


def test_eigencam_matches_pytorch_grad_cam_up_to_sign(case):
    pgc = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    from explorer.capture import capture
    from explorer.saliency import normalize, upsample

    model, x, targets = case
    want = _gradcam_peer(pgc.EigenCAM, model, ["conv3"], x, targets)
    with torch.no_grad(), capture(model, ["conv3"]) as rec:
        model(x)
    a = rec.output("conv3")
    proj = torch.from_numpy(get_2d_projection(a.numpy()))  # the peer's raw projection, its SVD's sign
    mean = a.mean(1)
    corr = ((proj - proj.mean((1, 2), keepdim=True)) * (mean - mean.mean((1, 2), keepdim=True))).sum((1, 2))
    agree = corr > 0  # where the peer's sign already follows our rule, our map equals its output
    got = EigenCAM("conv3")(model, x)
    assert torch.allclose(got[agree], want[agree], atol=ATOL)
    flipped = normalize(upsample(torch.relu(-proj[~agree]), x.shape[-2:]))
    assert torch.allclose(got[~agree], flipped, atol=ATOL)


def test_input_gradient_matches_captum(case):
    captum = pytest.importorskip("captum.attr")
    model, x, targets = case
    want = captum.Saliency(model).attribute(x.clone().requires_grad_(), target=targets, abs=True).amax(1)
    got = InputGradient()(model, x, targets=targets, raw=True)
    assert torch.allclose(got, want.detach(), atol=ATOL)


def test_smoothgrad_matches_captum_on_same_noise(case):
    captum = pytest.importorskip("captum.attr")
    model, x, targets = case
    sg = SmoothGrad(samples=5, noise_level=0.2, seed=3)
    sal = captum.Saliency(model)
    grads = [sal.attribute((x + eps).requires_grad_(), target=targets, abs=False).detach() for eps in sg.noise(x)]
    want = torch.stack(grads).mean(0).abs().amax(1)
    assert torch.allclose(sg(model, x, targets=targets, raw=True), want, atol=ATOL)


@pytest.mark.parametrize("steps", [1, 7, 50])
def test_integrated_gradients_matches_captum(case, steps):
    captum = pytest.importorskip("captum.attr")
    model, x, targets = case
    ig = captum.IntegratedGradients(model)
    attr = ig.attribute(x, target=targets, n_steps=steps, method="gausslegendre").detach()
    ours = IntegratedGradients(steps=steps, batch_size=16)  # chunked path: also checks the chunk bookkeeping
    assert torch.allclose(ours.attribute(ours.forward(model, x), targets).detach(), attr, atol=ATOL)
    assert torch.allclose(ours(model, x, targets=targets, raw=True), attr.sum(1).abs(), atol=ATOL)


def test_peer_gradcam_batch_footgun_is_not_ours(case):
    """pytorch-grad-cam #328: one target for a batch explains image 0 only; we broadcast an int or raise."""
    model, x, _ = case
    with pytest.raises(ValueError, match="one target per image"):
        GradCAM("conv3")(model, x, targets=[1])
    assert np.isfinite(GradCAM("conv3")(model, x, targets=1).numpy()).all()
