"""Contract over every registered method: shape, range, no NaN, the model untouched, clear errors, no hooks left."""
from collections import OrderedDict

import pytest
import torch
from torch import nn

from explorer.saliency import CAM, METHODS, Attribution, GradCAM, make_method, normalize

FAST = {"Smooth Grad-CAM++": dict(samples=2), "SmoothGrad": dict(samples=3), "Integrated gradients": dict(steps=8),
        "LIME": dict(samples=40), "KernelSHAP": dict(samples=40), "Shapley sampling": dict(samples=2)}


def method(name, layers=None):
    return make_method(name, layers if METHODS[name].needs_layer else None, **FAST.get(name, {}))


@pytest.mark.parametrize("name", list(METHODS))
def test_contract(tiny_cnn, unchanged, name):
    x = torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    x0 = x.clone()
    with unchanged(tiny_cnn):
        maps = method(name)(tiny_cnn, x, targets=torch.arange(7) % 3)
        raw = method(name)(tiny_cnn, x, targets="predicted", raw=True)
        with pytest.raises(ValueError, match="out of range"):
            method(name)(tiny_cnn, x, targets=3)
        with pytest.raises(ValueError, match="one target per image"):
            method(name)(tiny_cnn, x, targets=[0, 1])
    assert maps.shape == (7, 8, 8) and raw.shape == (7, 8, 8)
    assert not torch.isnan(maps).any() and maps.min() >= 0 and maps.max() <= 1
    assert (raw >= 0).all()
    assert torch.equal(x, x0), "the input was changed"


@pytest.fixture
def two_channel_cnn():
    """tiny_cnn with 2 input channels: input methods' attributions have 2 channels, CAMs' 1."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(2, 4, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)),
        ("conv2", nn.Conv2d(4, 6, 3, padding=1)), ("relu2", nn.ReLU(inplace=True)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(6, 3)),
    ])).eval()


@pytest.mark.parametrize("name", list(METHODS))
def test_one_call_for_raw_attributions(two_channel_cnn, unchanged, name):
    """Every method answers m.attributions(model, x, targets): (N, C, H, W), C the image's channels (1 for CAMs),
    and its map is normalize(ReLU(m.reduce(attributions))); the old calls still give the same numbers."""
    model, t = two_channel_cnn, torch.tensor([0, 2, 1])
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    m = method(name)
    with unchanged(model):
        attr = m.attributions(model, x, t)
        maps = m(model, x, t)
        if not isinstance(m, (CAM, Attribution)):  # gradient methods' old call
            old = m.attribute(m.forward(model, x), t)
            torch.testing.assert_close(attr, old.detach(), atol=0, rtol=0)
    assert attr.shape == (3, 1 if isinstance(m, CAM) else 2, 8, 8) and not attr.requires_grad
    assert torch.isfinite(attr).all()
    r = torch.relu(m.reduce(attr)).flatten(1)
    err = (normalize(r) - maps.flatten(1)).abs().amax(1)
    # CAMs normalise before and after the resize: the maps agree up to normalize's eps (1e-7) against their range
    assert (err <= 1e-6 + 2e-7 / (r.amax(1) - r.amin(1)).clamp_min(1e-30)).all(), err


@pytest.mark.parametrize("name", list(METHODS))
def test_bad_images(tiny_cnn, unchanged, name):
    with unchanged(tiny_cnn):
        with pytest.raises(ValueError, match="N, C, H, W"):
            method(name)(tiny_cnn, torch.zeros(1, 8, 8))
        with pytest.raises(ValueError, match="NaN"):
            method(name)(tiny_cnn, torch.full((1, 1, 8, 8), float("nan")))
        with pytest.raises(ValueError, match="cannot run"):
            method(name)(tiny_cnn, torch.zeros(2, 3, 8, 8))  # 3 channels into a 1-channel model


def test_true_targets_need_labels(tiny_cnn):
    x = torch.randn(4, 1, 8, 8)
    with pytest.raises(ValueError, match="labels"):
        GradCAM()(tiny_cnn, x, targets="true")
    assert torch.allclose(GradCAM()(tiny_cnn, x, targets="true", labels=torch.tensor([0, 1, 2, 0])),
                          GradCAM()(tiny_cnn, x, targets=[0, 1, 2, 0]))
    with pytest.raises(ValueError, match="predicted"):
        GradCAM()(tiny_cnn, x, targets="best")


def test_layer_errors(tiny_cnn, unchanged):
    x = torch.randn(2, 1, 8, 8)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with unchanged(tiny_cnn), unchanged(mlp):
        with pytest.raises(ValueError, match="no.*conv|none"):
            GradCAM()(mlp, x)
        with pytest.raises(KeyError, match="conv1"):
            GradCAM("fc")(tiny_cnn, x)
        with pytest.raises(KeyError, match="valid choices"):
            GradCAM("conv9")(tiny_cnn, x)
        with pytest.raises(KeyError, match="Grad-CAM"):
            make_method("GradCam")
        with pytest.raises(ValueError, match="no layer"):
            make_method("SmoothGrad", "conv1")
    # a ReLU right after a conv is a valid (convolutional) layer
    assert GradCAM("relu2")(tiny_cnn, x).shape == (2, 8, 8)


def test_train_mode_batchnorm_model_untouched(unchanged):
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 4, 3, padding=1), bn=nn.BatchNorm2d(4), relu=nn.ReLU(),
                                      gap=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(4, 3)))
    model.train()
    with unchanged(model):  # BN running stats and the training flag must survive
        for name in METHODS:
            method(name, "conv")(model, torch.randn(3, 1, 8, 8))
    assert model.training


def test_any_device_follows_model(tiny_cnn):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    model = tiny_cnn.cuda()
    maps = GradCAM()(model, torch.randn(2, 1, 8, 8))
    assert maps.device.type == "cuda"


def test_torchvision_resnet_block_layers(unchanged):
    tv = pytest.importorskip("torchvision")
    net = tv.models.resnet18(weights=None, num_classes=5).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))  # layer4: 2 x 2 (at 32: 1 x 1)
    with unchanged(net):
        for layers in ("layer4.1", "layer4.1.conv2", ["layer3", "layer4"]):
            maps = GradCAM(layers)(net, x, targets=[1, 4])
            assert maps.shape == (2, 64, 64) and torch.isfinite(maps).all()
        with pytest.raises(KeyError, match="not convolutional|valid choices"):
            GradCAM("fc")(net, x)


def test_frozen_weights_still_explained(tiny_cnn, unchanged):
    for p in tiny_cnn.parameters():
        p.requires_grad_(False)
    with unchanged(tiny_cnn):
        assert GradCAM("conv2")(tiny_cnn, torch.randn(2, 1, 8, 8)).max() > 0


class FastGradCAM(GradCAM):
    """Grad-CAM on the channels-last fast path (CAMs default to the caller's layout, as pytorch-grad-cam)."""
    channels_last = True


class ViewNet(nn.Module):
    """A CNN that flattens with .view(), which fails on a channels-last activation."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        a = torch.relu(self.conv(x))
        return self.fc(a.view(a.size(0), -1))


def test_channels_last_fast_path_falls_back_for_view_models(unchanged):
    torch.manual_seed(0)
    net, x = ViewNet(), torch.randn(3, 3, 6, 6)
    x0 = x.clone()
    method = FastGradCAM("conv")
    with unchanged(net):
        got = method(net, x, [0, 1, 2], raw=True)
    assert net in method._plain_layout  # tried once, then remembered by this method (no module-level state)
    assert torch.equal(x, x0) and x.is_contiguous()  # the caller's tensor untouched
    # the same maps as a forward on the plain layout, computed by hand: ReLU(sum_c mean(dS/dA_c) A_c)
    a = net.conv(x).detach().requires_grad_(True)  # the layer's output: before the functional ReLU
    s = net.fc(torch.relu(a).reshape(3, -1)).gather(1, torch.tensor([[0], [1], [2]])).sum()
    (g,) = torch.autograd.grad(s, a)
    cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1)).detach()
    assert cam.amax() > 0
    torch.testing.assert_close(got, cam, atol=1e-5, rtol=0)


def test_channels_last_layout_gives_the_same_maps():
    import weakref

    import torchvision

    torch.manual_seed(0)
    net, x = torchvision.models.resnet18(num_classes=4).eval(), torch.randn(2, 3, 64, 64)
    fast = FastGradCAM("layer4")(net, x, [1, 2])
    method = FastGradCAM("layer4")
    method._plain_layout = weakref.WeakSet([net])  # force the plain layout
    plain = method(net, x, [1, 2])
    torch.testing.assert_close(plain, GradCAM("layer4")(net, x, [1, 2]), atol=0, rtol=0)
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=0)


class NaNCAM(GradCAM):
    """A future method that goes wrong: its channel weights are NaN."""
    name = "NaN-CAM"

    def __init__(self, layers=None, gain: float = 2.0):
        self.layers, self.gain = layers, gain

    def weights(self, acts, grads):
        return torch.full(acts.shape[:2], float("nan"), dtype=acts.dtype, device=acts.device)


def dead_channel_cnn(tiny_cnn):
    """tiny_cnn with conv2's channel 0 off for every input: the average pool's output there is exactly 0."""
    import copy

    net = copy.deepcopy(tiny_cnn)
    with torch.no_grad():
        net.conv2.weight[0].zero_()
        net.conv2.bias[0] = -1.0
    return net


def test_non_finite_maps_are_refused_on_every_path(tiny_cnn, unchanged):
    """A NaN map is a clear error naming the method, its knobs and the images, not a blank picture: directly, through
    an Explainer (kept forward), and for attributions (LRP's epsilon rule at eps = 0 divides by a dead channel)."""
    from explorer.saliency import LRP, Explainer

    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with unchanged(tiny_cnn):
        with pytest.raises(ValueError, match=r"NaN-CAM with layers='conv2', gain=2.0 gave a non-finite map .* "
                                             r"image\(s\) 0, 1, 2 of the batch of 3"):
            NaNCAM("conv2")(tiny_cnn, x)
        with pytest.raises(ValueError, match="NaN-CAM .* non-finite map"):
            Explainer(tiny_cnn, NaNCAM("conv2"))(x, [0, 1, 2])
    net = dead_channel_cnn(tiny_cnn)
    for backend in ("own", "zennit"):
        with unchanged(net):
            with pytest.raises(ValueError, match=rf"LRP with rule='epsilon', eps=0.0, backend='{backend}'.* gave a "
                                                 r"non-finite map .*: .*choose eps > 0"):
                LRP(eps=0.0, backend=backend)(net, x)
            with pytest.raises(ValueError, match="LRP .* non-finite"):
                LRP(eps=0.0, backend=backend).attributions(net, x)
            assert torch.isfinite(LRP(backend=backend)(net, x)).all()  # the default eps is fine


def test_knob_ranges_cannot_make_a_degenerate_map(tiny_cnn):
    """Every numeric knob the panel offers, at either end of its slider, gives a finite map (LRP eps > 0; CF-CAM
    sigma >= SIGMA_MIN); below that CF-CAM says why."""
    from explorer.saliency.lab import knobs
    from explorer.saliency.methods.cfcam import SIGMA_MIN

    assert knobs(METHODS["LRP"])["eps"]["range"][0] > 0
    assert knobs(METHODS["CF-CAM"])["sigma"]["range"][0] == SIGMA_MIN
    net = dead_channel_cnn(tiny_cnn)
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    for name, cls in METHODS.items():
        for knob, spec in knobs(cls).items():
            if "range" not in spec or knob in ("samples", "steps", "window", "stride"):
                continue  # counts: any value in range is a valid count
            for end in spec["range"][:2]:
                params = {**FAST.get(name, {}), knob: type(spec["default"])(end)}
                m = make_method(name, "conv2" if cls.needs_layer else None, **params)
                assert torch.isfinite(m(net, x, [0, 1])).all(), (name, knob, end)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0.1"):
        make_method("CF-CAM", "conv2", sigma=1e-30)(net, x)
