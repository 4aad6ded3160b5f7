"""CAM family: known answers on hand-built models, the knobs the panel reads, bad input."""
import inspect
from collections import OrderedDict

import pytest
import torch
from torch import nn

import explorer.saliency as S
from explorer.saliency import METHODS


def gap_head(c=3, k=4, seed=0, relu=True):
    """conv -> (ReLU) -> GAP -> Linear: the layer feeds GAP, so the gradient at it is W_ck / (h w), constant."""
    torch.manual_seed(seed)
    layers = [("conv", nn.Conv2d(1, c, 3, padding=1))] + ([("relu", nn.ReLU())] if relu else [])
    layers += [("gap", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten()), ("fc", nn.Linear(c, k))]
    return nn.Sequential(OrderedDict(layers)).eval()


X = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(1))


def acts_of(model, layer, x):
    fw = S.GradCAM(layer).forward(model, x)
    return fw, fw.acts[layer].detach()


def test_gap_head_equivalences():
    model, t = gap_head(), torch.tensor([0, 1, 3])
    raw = {m: m("relu")(model, X, t, raw=True) for m in (S.GradCAM, S.HiResCAM, S.XGradCAM)}
    _, a = acts_of(model, "relu", X)
    w = model.fc.weight[t] / 36  # dS/dA = W_ck / (h w) everywhere
    cam = torch.relu(torch.einsum("nc,nchw->nhw", w, a))
    torch.testing.assert_close(raw[S.GradCAM], cam, atol=1e-6, rtol=0)
    torch.testing.assert_close(raw[S.HiResCAM], cam, atol=1e-6, rtol=0)  # HiResCAM = Grad-CAM = CAM here
    # XGrad-CAM: w_k = sum g A / sum A = W_ck / (h w) as well (A >= 0 after the ReLU)
    torch.testing.assert_close(raw[S.XGradCAM], cam, atol=1e-5, rtol=1e-4)
    # element-wise keeps each channel's positive part: >= HiResCAM, equal where every w_ck > 0
    ew = S.GradCAMElementWise("relu")(model, X, t, raw=True)
    assert (ew >= raw[S.HiResCAM] - 1e-7).all() and (ew - raw[S.HiResCAM]).abs().max() > 1e-4
    pos = (model.fc.weight[t] > 0).all(1)
    torch.testing.assert_close(ew[pos], raw[S.HiResCAM][pos], atol=1e-6, rtol=0)


def test_layercam_equals_gradcam_for_positive_weights_and_clips_negative():
    model = gap_head()
    with torch.no_grad():
        model.fc.weight[0].abs_()
    t = torch.zeros(3, dtype=torch.long)
    torch.testing.assert_close(S.LayerCAM("relu")(model, X, t), S.GradCAM("relu")(model, X, t), atol=1e-6, rtol=0)
    # class with mixed-sign weights: Layer-CAM = ReLU(sum_k ReLU(W_ck) A_k / (h w))
    with torch.no_grad():
        model.fc.weight[1] = torch.tensor([1.0, -2.0, 0.5])
    _, a = acts_of(model, "relu", X)
    want = torch.relu(torch.einsum("c,nchw->nhw", model.fc.weight[1].clamp_min(0) / 36, a))
    got = S.LayerCAM("relu")(model, X, torch.ones(3, dtype=torch.long), raw=True)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_hirescam_flatten_head_known_answer():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3, padding=1), flat=nn.Flatten(),
                                      fc=nn.Linear(2 * 36, 3))).eval()
    t = torch.tensor([2, 0, 1])
    _, a = acts_of(model, "conv", X)
    # dS_c/dA_kij = W_c,(k,i,j): HiResCAM = ReLU(sum_k W_c,kij A_kij) exactly
    want = torch.relu((model.fc.weight[t].view(3, 2, 6, 6) * a).sum(1))
    torch.testing.assert_close(S.HiResCAM("conv")(model, X, t, raw=True), want, atol=1e-6, rtol=0)


def test_eigengradcam_rank_one_known_answer():
    # g * A = u v^T (rank 1) per image: the first component's map is u, centred (up to sign; ours: oriented)
    u = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    v = torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1)
    proj = S.EigenGradCAM(sign="none").combine(None, "l", u * v, torch.ones(2, 3, 4, 4))
    uc = (u[:, 0] - u[:, 0].mean((1, 2), keepdim=True)).flatten(1)
    corr = (proj.flatten(1) * uc).sum(1) / (proj.flatten(1).norm(dim=1) * uc.norm(dim=1))
    torch.testing.assert_close(corr.abs(), torch.ones(2), atol=1e-5, rtol=0)
    mean = S.EigenGradCAM(sign="mean").combine(None, "l", u * v, torch.ones(2, 3, 4, 4))
    ref = (u * v).mean(1).flatten(1)
    m = mean.flatten(1)
    assert ((m - m.mean(1, keepdim=True)) * (ref - ref.mean(1, keepdim=True))).sum(1).gt(0).all()


class TwoMask(nn.Module):
    """Score-CAM's known answer: a 2-channel layer of fixed maps and a linear score of the masked image."""

    def __init__(self):
        super().__init__()
        self.maps = nn.Conv2d(1, 2, 1, bias=False)
        self.fc = nn.Linear(16, 2, bias=False)
        with torch.no_grad():
            self.maps.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.fc.weight.copy_(torch.stack([torch.arange(16.0) / 16, torch.ones(16) / 4]))

    def forward(self, x):
        a = self.maps(x)  # (N, 2, 4, 4); the score ignores it except through the graph
        return self.fc(x.flatten(1)) + 0 * a.sum((1, 2, 3))[:, None]


def test_scorecam_known_answer_two_channels():
    model = TwoMask().eval()
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)) + 0.1
    t = torch.tensor([0, 1])
    a = torch.cat([x, -x], 1)  # the layer's maps (same resolution: align_corners upsampling is the identity)
    m = (a - a.amin((2, 3), keepdim=True)) / (a.amax((2, 3), keepdim=True) - a.amin((2, 3), keepdim=True) + 1e-8)
    s = torch.stack([model.fc(((x * m[:, k:k + 1])).flatten(1)).gather(1, t[:, None])[:, 0] for k in range(2)], 1)
    want = torch.relu(torch.einsum("nk,nkhw->nhw", s.softmax(1), a))
    for bs in (1, 3, 64):  # any batch size, also one that splits an image's channels
        torch.testing.assert_close(S.ScoreCAM("maps", batch_size=bs)(model, x, t, raw=True), want, atol=1e-6,
                                   rtol=0)


def test_scorecam_one_pass_serves_every_constant_map():
    """Channels zero everywhere mask the image to 0: one forward for all of them, the same map as one each."""
    model = TwoMask().eval()
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1)) + 0.1
    rows = []
    real = model.forward
    model.forward = lambda z: rows.append(len(z)) or real(z)
    with torch.no_grad():
        model.maps.weight[1] = 0.0  # channel 1: x * 0, a constant (zero) map for every image
    t = torch.tensor([0, 1, 0])
    a = torch.cat([x, 0 * x], 1)
    m = (a - a.amin((2, 3), keepdim=True)) / (a.amax((2, 3), keepdim=True) - a.amin((2, 3), keepdim=True) + 1e-8)
    s = torch.stack([real(x * m[:, k:k + 1]).gather(1, t[:, None])[:, 0] for k in range(2)], 1)
    want = torch.relu(torch.einsum("nk,nkhw->nhw", s.softmax(1), a))
    rows.clear()
    got = S.ScoreCAM("maps", batch_size=64)(model, x, t, raw=True)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    # the capture pass (3 rows) and the cache probe (1) aside: one zero image, then the 3 non-constant rows
    assert sorted(rows) == [1, 1, 3, 3], rows


def test_ablationcam_known_answer_gap_head():
    model, t = gap_head(c=4, seed=3), torch.tensor([0, 1, 2])
    fw, a = acts_of(model, "relu", X)
    y = fw.logits.detach().gather(1, t[:, None])
    # post-ReLU layer (min 0: ablate to 0), GAP + Linear: y - y_k = W_ck mean(A_k)
    drop = model.fc.weight[t] * a.mean((2, 3))
    want = torch.relu(torch.einsum("nk,nkhw->nhw", drop / y.abs(), a))
    for bs in (1, 3, 128):
        torch.testing.assert_close(S.AblationCAM("relu", batch_size=bs)(model, X, t, raw=True), want, atol=1e-5,
                                   rtol=1e-4)


def test_ablationcam_float64_model(unchanged):
    """A float64 model's scores go into a float64 buffer (it was float32: index_put refused the write)."""
    model, t = gap_head(c=4, seed=3).double(), torch.tensor([0, 1, 2])
    x = X.double()
    fw, a = acts_of(model, "relu", x)
    y = fw.logits.detach().gather(1, t[:, None])
    drop = model.fc.weight[t] * a.mean((2, 3))
    with unchanged(model):
        got = S.AblationCAM("relu")(model, x, t, raw=True)
        want = torch.relu(torch.einsum("nk,nkhw->nhw", drop / y.abs(), a))
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
        got = S.AblationCAM("relu", variant="pytorch-grad-cam")(model, x, t, raw=True)
        torch.testing.assert_close(got, torch.relu(torch.einsum("nk,nkhw->nhw", drop / y, a)), atol=1e-12, rtol=1e-10)


def test_ablationcam_peer_variant_cascades_and_divides_by_y():
    """variant='pytorch-grad-cam': channel k of a layer that can be negative is ablated to min - (k % 32 + 1) 1e7
    (the peer re-reads the minimum after each write along its batch of 32) and the drop is divided by y."""
    a = torch.tensor([-2.0, 3.0]).repeat(70, 1)[..., None]  # (70, 2, 1): min -2
    values = S.AblationCAM(variant="pytorch-grad-cam").values(a)
    want = -2.0 - 1e7 * (torch.arange(70) % 32 + 1)
    torch.testing.assert_close(values, want.float(), atol=0, rtol=0)
    assert torch.equal(S.AblationCAM().values(a), torch.full((70,), -2.0 - 1e7))  # sound: one value
    assert torch.equal(S.AblationCAM(variant="pytorch-grad-cam").values(a.clamp_min(0)), torch.zeros(70))
    model = gap_head(c=4, seed=3, relu=False)  # the conv can be negative
    t = torch.tensor([0, 1, 2])
    fw, acts = acts_of(model, "conv", X)
    y = fw.logits.detach().gather(1, t[:, None])
    method = S.AblationCAM("conv", batch_size=3, variant="pytorch-grad-cam")
    (w,) = method.grads(fw, t, [fw.acts["conv"]])
    for i in range(3):
        for k in range(4):
            v = acts[i].min() - 1e7 * (k + 1)  # 4 channels: one peer batch
            want = (y[i, 0] - by_hand(model, "conv", X[i:i + 1], t[i:i + 1], k, v)[0]) / y[i, 0]
            torch.testing.assert_close(w[i, k], want, atol=1e-5, rtol=1e-4)


class Concat(nn.Module):
    """A skip joined with torch.cat: the batch-1 prefix cannot broadcast, so Ablation-CAM repeats the image."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.relu, self.fc = nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Linear(4, 2)

    def forward(self, x):
        a = self.relu(self.conv(x))
        return self.fc(torch.cat([a, x], 1).mean((2, 3)))


def by_hand(model, layer, x, t, k, value):
    """The target score with channel k of `layer` set to `value`, by a hook on a full forward."""
    mod = dict(model.named_modules())[layer]

    def hook(m, i, out):
        out = out.clone()
        out[:, k] = value
        return out
    h = mod.register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model(x).gather(1, t[:, None])[:, 0]
    finally:
        h.remove()


def test_ablationcam_fallback_when_the_prefix_cannot_broadcast(unchanged):
    model, t = Concat().eval(), torch.tensor([1, 0, 1])
    with unchanged(model):
        method = S.AblationCAM("relu", batch_size=2)
        fw = method.forward(model, X)
        (w,) = method.grads(fw, t, [fw.acts["relu"]])
    y = fw.logits.detach().gather(1, t[:, None])[:, 0]
    for k in range(3):
        torch.testing.assert_close(w[:, k], (y - by_hand(model, "relu", X, t, k, 0.0)) / y.abs(), atol=1e-5,
                                   rtol=1e-4)


@pytest.fixture(scope="module")
def small_resnet():
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return tv.models.resnet18(weights=None, num_classes=5).eval()


@pytest.mark.parametrize("layer", ["layer4", "layer4.1.conv2"])
def test_ablationcam_resnet_broadcast_matches_full_forwards(small_resnet, layer, unchanged):
    net = small_resnet
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([1, 4])
    with unchanged(net):
        method = S.AblationCAM(layer, batch_size=200)
        fw = method.forward(net, x)
        (w,) = method.grads(fw, t, [fw.acts[layer]])
    a = fw.acts[layer].detach()
    y = fw.logits.detach().gather(1, t[:, None])[:, 0]
    for k in (0, 201, 511):  # the residual skip (batch 1) broadcasts onto the ablated rows
        for i in range(2):
            lo = a[i].min()
            value = 0.0 if lo == 0 else lo.item() - 1e7
            want = (y[i] - by_hand(net, layer, x[i:i + 1], t[i:i + 1], k, value)[0]) / y[i].abs()
            torch.testing.assert_close(w[i, k], want, atol=1e-4, rtol=1e-3)


def test_fullgrad_completeness():
    """Raw terms: sum x dS/dx + sum over bias layers of sum b dS/dz = S for a ReLU net (BN in eval mode, no
    Linear bias: FullGrad, like the peer, ignores Linear biases)."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 3, 3, padding=1), bn=nn.BatchNorm2d(3), relu=nn.ReLU(),
                                      conv2=nn.Conv2d(3, 2, 3, padding=1), gap=nn.AdaptiveAvgPool2d(1),
                                      flat=nn.Flatten(), fc=nn.Linear(2, 3, bias=False)))
    with torch.no_grad():
        model.train()(torch.randn(8, 1, 6, 6))
    model.eval()
    method, t = S.FullGrad(), torch.tensor([0, 2, 1])
    fw = method.forward(model, X)
    names = list(fw.acts)
    assert names == ["conv", "bn", "conv2"]
    x = fw.inputs["input"]
    gx, *gs = method.grads(fw, t, [x] + [fw.acts[n] for n in names])
    mods = dict(model.named_modules())
    from explorer.saliency.methods.fullgrad import bias_of
    total = (x * gx).sum((1, 2, 3)) + sum((bias_of(mods[n])[:, None, None] * g).sum((1, 2, 3))
                                          for n, g in zip(names, gs, strict=True))
    torch.testing.assert_close(total.detach(), fw.logits.detach().gather(1, t[:, None])[:, 0], atol=1e-5, rtol=1e-5)


def test_gradcampp_epsilon_forms():
    # the peer's epsilon is not small next to g^2 on unscaled logits (g ~ W / (h w) here): the forms differ; with
    # the logits scaled by 1e3 (g^2 by 1e6) it is negligible and they agree
    model, t = gap_head(c=3, seed=2, relu=False), torch.tensor([0, 1, 2])
    assert (S.GradCAMpp("conv")(model, X, t) - S.GradCAMpp("conv", epsilon=0)(model, X, t)).abs().max() > 1e-3
    with torch.no_grad():
        model.fc.weight.mul_(1e3)
        model.fc.bias.mul_(1e3)
    torch.testing.assert_close(S.GradCAMpp("conv")(model, X, t), S.GradCAMpp("conv", epsilon=0)(model, X, t),
                               atol=1e-4, rtol=0)


NEW = [S.HiResCAM, S.GradCAMElementWise, S.XGradCAM, S.LayerCAM, S.ScoreCAM, S.AblationCAM, S.EigenGradCAM,
       S.FullGrad]


def test_registered_with_family_and_choices():
    for cls in NEW:
        assert METHODS[cls.name] is cls
    for name, cls in METHODS.items():
        assert isinstance(getattr(cls, "family", None), str) and cls.family, name
        params = inspect.signature(cls.__init__).parameters
        for knob, options in getattr(cls, "choices", {}).items():
            assert knob in params and params[knob].default in options, (name, knob)
    assert {cls.family for cls in NEW} == {"CAM"}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
@pytest.mark.parametrize("cls", [S.ScoreCAM, S.AblationCAM])
def test_bad_batch_size(tiny_cnn, cls, bad, unchanged):
    with unchanged(tiny_cnn), pytest.raises(ValueError, match="batch_size must be a positive integer"):
        cls("conv2", batch_size=bad)(tiny_cnn, torch.randn(2, 1, 8, 8))


def test_bad_options(tiny_cnn):
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="choose one of auto, zero"):
        S.AblationCAM("conv2", value="min")(tiny_cnn, x)
    with pytest.raises(ValueError, match="choose one of sound, pytorch-grad-cam"):
        S.AblationCAM("conv2", variant="peer")(tiny_cnn, x)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        S.GradCAMpp("conv2", epsilon=-1e-6)(tiny_cnn, x)
    with pytest.raises(ValueError, match="choose one of mean"):
        S.EigenGradCAM("conv2", sign="up")(tiny_cnn, x)
    with pytest.raises(ValueError, match="Conv2d or BatchNorm2d layers with a bias"):
        S.FullGrad()(nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten(), nn.Linear(72, 2)), x)
    with pytest.raises(KeyError, match="not a spatial map"):
        S.ScoreCAM("fc")(tiny_cnn, x)
