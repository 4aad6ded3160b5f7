"""CAM family against pytorch-grad-cam within 1e-4, unscaled logits, one explicit target per image: the digits CNN
(trained and random) and torchvision resnet18, vgg11_bn, mobilenet_v3_small at 224 (seeded, BatchNorm calibrated)."""
import copy
import dataclasses

import pytest
import torch

import explorer.saliency as S

pgc = pytest.importorskip("pytorch_grad_cam")
tv = pytest.importorskip("torchvision")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection  # noqa: E402

ATOL = 1e-4
GRADIENT = {S.GradCAM: pgc.GradCAM, S.GradCAMpp: pgc.GradCAMPlusPlus, S.HiResCAM: pgc.HiResCAM,
            S.GradCAMElementWise: pgc.GradCAMElementWise, S.XGradCAM: pgc.XGradCAM, S.LayerCAM: pgc.LayerCAM}


@pytest.fixture(scope="module")
def resnet18(calibrated):
    return calibrated("resnet18", size=224)


@pytest.fixture(scope="module")
def vgg11_bn(calibrated):
    return calibrated("vgg11_bn", size=224)


@pytest.fixture(scope="module")
def mobilenet(calibrated):
    return calibrated("mobilenet_v3_small", size=224)


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))


def predicted(model, x):
    """Explicit per-image targets: the predicted classes (positive logits)."""
    with torch.no_grad():
        return model(x).argmax(1)


def peer_maps(model, layers, x, targets, peers):
    """pytorch-grad-cam's map per (peer, layer), from one of its own forward and backward passes for all layers:
    each peer's get_cam_image, ReLU, scale_cam_image and aggregate_multi_layers, as its __call__ runs them.
    The peer lists activations in the order its hooks fire, not in target_layers' order (a block fires after the
    convs inside it): `layers` must come in that order."""
    mods = [dict(model.named_modules())[n] for n in layers]
    tg = [ClassifierOutputTarget(int(t)) for t in targets]
    with pgc.GradCAM(model=model, target_layers=mods) as cam:
        cam(input_tensor=x, targets=tg)
        acts = [a.clone() for a in cam.activations_and_grads.activations]
        grads = [g.clone() for g in cam.activations_and_grads.gradients]
    out = {}
    for peer in peers:
        with peer(model=model, target_layers=mods) as p:
            p.activations_and_grads.activations, p.activations_and_grads.gradients = list(acts), list(grads)
            for n, m in zip(layers, p.compute_cam_per_layer(x, tg, False), strict=True):
                out[peer, n] = torch.from_numpy(p.aggregate_multi_layers([m]))
    return out, dict(zip(layers, zip(acts, grads, strict=True), strict=True))


def our_maps(cls, model, layers, x, targets, **kw):
    """Our map per layer, from one forward for all layers (a kept graph: one targeted autograd.grad per layer)."""
    method = cls(layers, **kw)
    fw = method.forward(model, x)
    return {n: method.explain(dataclasses.replace(fw, acts={n: fw.acts[n]}), targets) for n in layers}


def check_gradient_cams(model, layers, x, methods=tuple(GRADIENT)):
    t = predicted(model, x)
    want, _ = peer_maps(model, layers, x, t, [GRADIENT[m] for m in methods])
    for m in methods:
        for n, got in our_maps(m, model, layers, x, t).items():
            err = (got - want[GRADIENT[m], n]).abs().max().item()
            assert err < ATOL, f"{m.name} at {n}: max diff {err:.2e}"


def no_inplace(model):
    """A copy without in-place ops: pytorch-grad-cam stores the hooked tensor itself, which a following in-place ReLU
    rewrites (conv3's "activation" becomes ReLU(conv3)); our capture() records a copy. Same maths: no in-place."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return model


@pytest.fixture(scope="module", params=["trained", "random"])
def digits_case(request, trained_session, digits):
    from explorer import Session

    session = trained_session if request.param == "trained" else Session.open(digits, "cnn", device="cpu",
                                                                                epochs=0, seed=0)
    return no_inplace(session.model), session.data.inputs("test")[:6]


# every layer a user can choose on the digits CNN: convs (pre-activation), ReLUs, the pool
DIGITS_LAYERS = ["conv1", "relu1", "conv2", "relu2", "pool", "conv3", "relu3"]


def test_gradient_cams_every_digits_layer(digits_case):
    model, x = digits_case
    check_gradient_cams(model, DIGITS_LAYERS, x)


def test_gradient_cams_resnet18(resnet18, images):
    check_gradient_cams(resnet18, ["layer4.1.conv2", "layer4"], images)


def test_gradcampp_every_resnet18_depth(resnet18, images):
    # pre-activation convs at every depth, where 2 g^2 + sum(A) g^3 + eps nears 0: conditioning, not tolerance
    check_gradient_cams(resnet18, ["conv1", "layer1.0.conv1", "layer2.1.conv2", "layer3.0.conv2", "layer3",
                                   "layer4.0.conv1", "layer4.1.conv2", "layer4"], images, (S.GradCAMpp, S.XGradCAM))


@pytest.mark.slow
def test_gradient_cams_vgg11_bn(vgg11_bn, images):
    # features.25: the last conv (before its BN); features.27: its ReLU (in place, read by the pool only)
    check_gradient_cams(vgg11_bn, ["features.25", "features.27"], images, (S.GradCAM, S.GradCAMpp, S.LayerCAM))


def test_gradient_cams_mobilenet(mobilenet, images):
    # features.12.0: the last conv (before BN and Hardswish); features.12: the block output
    check_gradient_cams(mobilenet, ["features.12.0", "features.12"], images, (S.GradCAMpp, S.HiResCAM, S.XGradCAM))


def eigen_check(model, layers, x):
    """EigenGrad-CAM equals the peer where the peer's SVD sign already follows our rule, and the flipped map
    elsewhere (the peer's sign is the BLAS's: arbitrary, so its map can be inverted)."""
    t = predicted(model, x)
    want, raw = peer_maps(model, layers, x, t, [pgc.EigenGradCAM])
    for n, got in our_maps(S.EigenGradCAM, model, layers, x, t).items():
        a, g = raw[n]
        proj = torch.from_numpy(get_2d_projection((g * a).numpy()))
        ref = (g * a).mean(1)
        agree = ((proj - proj.mean((1, 2), True)) * (ref - ref.mean((1, 2), True))).sum((1, 2)) > 0
        flipped = S.normalize(S.upsample(S.normalize(torch.relu(-proj)), x.shape[-2:]))
        expect = torch.where(agree[:, None, None], want[pgc.EigenGradCAM, n], flipped)
        assert (got - expect).abs().max() < ATOL, n


def test_eigengradcam_up_to_sign(digits_case, resnet18, images):
    eigen_check(digits_case[0], ["conv2", "conv3", "relu3"], digits_case[1])
    eigen_check(resnet18, ["layer4.1.conv2", "layer4"], images)


def peer_call(peer, model, layers, x, t, **kw):
    mods = [dict(model.named_modules())[n] for n in layers]
    with peer(model=model, target_layers=mods, **kw) as cam:
        return torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(int(i)) for i in t]))


@pytest.mark.parametrize("layer", ["relu2", "conv3"])
def test_score_and_ablation_cam_digits(digits_case, layer):
    model, x = digits_case
    t = predicted(model, x)
    assert (S.ScoreCAM(layer)(model, x, t) - peer_call(pgc.ScoreCAM, model, [layer], x, t)).abs().max() < ATOL
    # batch_size=1: the peer writes one ablated row per batch, so its ablation value does not cascade (below)
    want = peer_call(pgc.AblationCAM, model, [layer], x, t, batch_size=1)
    assert (S.AblationCAM(layer)(model, x, t) - want).abs().max() < ATOL


@pytest.mark.parametrize("layer", ["features.0.0", "features.1"])
def test_score_and_ablation_cam_mobilenet(mobilenet, images, layer):
    # 16-channel layers (a pre-activation conv, a block output): 32 masked or ablated forwards per peer call
    t = predicted(mobilenet, images)
    want = peer_call(pgc.ScoreCAM, mobilenet, [layer], images, t)
    assert (S.ScoreCAM(layer, batch_size=5)(mobilenet, images, t) - want).abs().max() < ATOL
    want = peer_call(pgc.AblationCAM, mobilenet, [layer], images, t, batch_size=1)
    assert (S.AblationCAM(layer, batch_size=7)(mobilenet, images, t) - want).abs().max() < ATOL


@pytest.mark.parametrize("targets", ["predicted", "lowest"])
def test_ablation_cam_peer_variant_mobilenet(mobilenet, unchanged, targets):
    """variant='pytorch-grad-cam' equals the peer at its default batch_size (32) on a 40-channel block output that
    can be negative (the ablation value cascades, restarting at channel 32) and, for the lowest logit (y < 0), where
    the peer's division by y flips the map; the sound default differs there by up to 1."""
    x, layer = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5)), "features.4"
    with torch.no_grad():
        logits = mobilenet(x)
    t = logits.argmax(1) if targets == "predicted" else logits.argmin(1)
    want = peer_call(pgc.AblationCAM, mobilenet, [layer], x, t)
    with unchanged(mobilenet):
        peer_mode = S.AblationCAM(layer, batch_size=7, variant="pytorch-grad-cam")(mobilenet, x, t)
        sound = S.AblationCAM(layer, batch_size=7)(mobilenet, x, t)
    assert (peer_mode - want).abs().max() < ATOL
    assert (sound - want).abs().max() > 0.3


def test_peer_ablation_value_cascades_with_its_batch():
    """The peer re-reads the minimum after each write: on a layer that can be negative, row j of its batch is set to
    min - (j + 1) 1e7, so its map depends on batch_size when the layers after do not saturate; ours does not."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    x = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    t = predicted(model, x)
    one = peer_call(pgc.AblationCAM, model, ["0"], x, t, batch_size=1)
    four = peer_call(pgc.AblationCAM, model, ["0"], x, t, batch_size=4)
    assert (one - four).abs().max() > 1e-2
    ours = [S.AblationCAM("0", batch_size=b)(model, x, t) for b in (1, 4)]
    assert torch.equal(ours[0], ours[1]) and (ours[0] - one).abs().max() < ATOL


def test_peer_ablation_flips_where_the_score_is_negative(digits_case):
    """The peer divides by y, ours by |y|: where y < 0 its map is ours with the weights negated."""
    model, x = digits_case
    with torch.no_grad():
        t = model(x).argmin(1)  # the lowest logit: negative
    method = S.AblationCAM("relu3")
    fw = method.forward(model, x)
    assert (fw.logits.gather(1, t[:, None]) < 0).all()
    (w,) = method.grads(fw, t, [fw.acts["relu3"]])
    cam = torch.relu(-torch.einsum("nc,nchw->nhw", w, fw.acts["relu3"].detach()))
    want = peer_call(pgc.AblationCAM, model, ["relu3"], x, t, batch_size=1)
    assert (S.normalize(S.upsample(S.normalize(cam), x.shape[-2:])) - want).abs().max() < ATOL
    assert (method.explain(fw, t) - want).abs().max() > 1e-2


def test_fullgrad_digits(digits_case):
    model, x = digits_case
    t = predicted(model, x)
    assert (S.FullGrad()(model, x, t) - peer_call(pgc.FullGrad, model, [], x, t)).abs().max() < ATOL


def test_fullgrad_mobilenet_squeeze_excitation(mobilenet, unchanged):
    """Squeeze-excitation blocks' 1 x 1 convolutions are FullGrad layers: each channel of a 1 x 1 map normalises to 0
    and upsamples to a constant, as in the peer (they were refused as "a 1 x 1 map")."""
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    t = predicted(mobilenet, x)
    method = S.FullGrad()
    with unchanged(mobilenet):
        ours = method(mobilenet, x, t)
    assert "features.1.block.1.fc1" in method.layer_names(mobilenet)  # the first SE block's squeeze conv
    assert (ours - peer_call(pgc.FullGrad, mobilenet, [], x, t)).abs().max() < ATOL


@pytest.mark.slow
def test_fullgrad_resnet18(resnet18, images):
    # the peer resizes each of the 4800 BatchNorm channels to 224 x 224 on its own (seconds); we sum, then resize
    t = predicted(resnet18, images)
    assert (S.FullGrad()(resnet18, images, t) - peer_call(pgc.FullGrad, resnet18, [], images, t)).abs().max() < ATOL
