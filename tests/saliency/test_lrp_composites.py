"""LRP rules per layer group and zennit's named composites: ours against zennit's own composites on VGG-11-BN and
resnet18 (seeded, BatchNorm calibrated, 64 px), known answers through one linear layer, conservation, the model
untouched by both backends."""
import copy

import pytest
import torch
from torch import nn

from explorer.saliency import LRP

zennit = pytest.importorskip("zennit")
tv = pytest.importorskip("torchvision")
from zennit import composites as zc  # noqa: E402
from zennit.torchvision import ResNetCanonizer, VGGCanonizer  # noqa: E402

NAMED = ("EpsilonPlus", "EpsilonGammaBox", "EpsilonAlpha2Beta1", "EpsilonPlusFlat", "EpsilonAlpha2Beta1Flat")


@pytest.fixture(scope="module")
def nets(calibrated):
    return {"vgg11_bn": (calibrated("vgg11_bn", num_classes=10), VGGCanonizer),
            "resnet18": (calibrated("resnet18", num_classes=10), ResNetCanonizer)}


X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
T = torch.tensor([3, 7])


def zennit_reference(net, name, canonizer, x, t, exact_identity=True):
    """zennit's composite (its own classes and canonizer) on a copy, relevance started at the target logit.
    exact_identity: zennit's canonizer leaves each merged BatchNorm computing x / sqrt(1 + eps), not x (its
    running_var is set to 1, eps stays); with eps 0 for the pass the BatchNorm is the identity it means to be."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    kw = {"canonizers": [canonizer()]}
    if name == "EpsilonGammaBox":  # our z-box bounds: each image's per-channel range
        kw.update(low=x.amin((2, 3), keepdim=True), high=x.amax((2, 3), keepdim=True))
    with getattr(zc, name)(**kw).context(net):
        if exact_identity:
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eps = 0.0
        xg = x.clone().requires_grad_(True)
        logits = net(xg)
        start = torch.zeros_like(logits).scatter_(1, t[:, None], logits.detach().gather(1, t[:, None]))
        return torch.autograd.grad(logits, xg, start)[0]


@pytest.mark.parametrize("arch", ["vgg11_bn", "resnet18"])
@pytest.mark.parametrize("name", NAMED)
def test_named_composites_equal_zennits(nets, arch, name):
    net, canonizer = nets[arch]
    ours = LRP(name, backend="own").attributions(net, X, T)
    theirs = zennit_reference(net, name, canonizer, X, T)
    assert theirs.abs().max() > 0
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    # (in fact bit for bit here; against zennit's BatchNorm left at x / sqrt(1 + eps) the gap is up to 1.6e-5 on
    # VGG-11-BN: the rounding of that 1e-5 scale per BatchNorm, amplified by the rules' divisions)


def test_zennit_backend_and_custom_groups(nets, unchanged):
    """Our class through zennit gives zennit's answer, and per-group choices override a composite; both backends
    leave resnet18 as it was (zennit's canonizers change it in place and put it back)."""
    net, canonizer = nets["resnet18"]
    with unchanged(net):
        via = LRP("EpsilonPlusFlat", backend="zennit").attributions(net, X, T)
        ours = LRP("EpsilonPlusFlat", backend="own").attributions(net, X, T)
        custom = {b: LRP("EpsilonPlus", first="wsquare", conv="gamma", dense="alphabeta", gamma=0.5, alpha=1.5,
                         backend=b).attributions(net, X, T) for b in ("own", "zennit")}
    torch.testing.assert_close(via, zennit_reference(net, "EpsilonPlusFlat", canonizer, X, T, False), atol=0, rtol=0)
    torch.testing.assert_close(ours, via, atol=1e-5, rtol=0)
    torch.testing.assert_close(custom["own"], custom["zennit"], atol=1e-5, rtol=0)
    assert (custom["own"] - ours).abs().max() > 1e-4  # the overrides did something


def one_linear():
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 1))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[3.0, -1.0]]))
        net[1].bias.zero_()
    return net.eval()


@pytest.mark.parametrize("backend", ["own", "zennit"])
@pytest.mark.parametrize("rule, knobs, expected", [
    # x = [1, 2], w = [3, -1], b = 0: z = 3 - 2 = 1, the starting relevance R = z = 1.
    # gamma 0.5, z > 0 and x >= 0: w + gamma w+ = [4.5, -1]; R_i = x_i (w_i + gamma w_i+) R / sum = [4.5, -2] / 2.5
    ("gamma", {"gamma": 0.5}, [1.8, -0.8]),
    # alpha 2, beta 1: positive parts x w+ = [3, 0] (sum 3), negative x w- = [0, -2] (sum -2):
    # R = 2 * [3, 0] / 3 - 1 * [0, -2] / -2 = [2, 0] - [0, 1] = [2, -1]
    ("alphabeta", {"alpha": 2.0}, [2.0, -1.0]),
    # alpha 1, beta 0 (= z+): R = [3, 0] / 3 = [1, 0]
    ("alphabeta", {"alpha": 1.0}, [1.0, 0.0]),
    ("zplus", {}, [1.0, 0.0]),
    # flat: every input of the layer gets an equal share: [0.5, 0.5]
    ("flat", {}, [0.5, 0.5]),
    # w-square: shares w_i^2 / sum w^2 = [9, 1] / 10
    ("wsquare", {}, [0.9, 0.1]),
])
def test_one_linear_layer_known_answers(backend, rule, knobs, expected, unchanged):
    net, x = one_linear(), torch.tensor([[[[1.0, 2.0]]]])
    with unchanged(net):
        r = LRP("epsilon", dense=rule, backend=backend, **knobs).attributions(net, x, 0).flatten()
    torch.testing.assert_close(r, torch.tensor(expected), atol=1e-5, rtol=0)


@pytest.mark.parametrize("groups", [("flat", "gamma", "alphabeta"), ("preset", "zplus", "epsilon"),
                                    ("wsquare", "alphabeta", "gamma"), ("zbox", "gamma", "zplus")])
def test_conservation_without_biases(groups):
    """Bias-free ReLU net: these rules pass all of the target logit down (sum R = S_t(x))."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(6, 8, 3, bias=False),
                        nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 9, 5, bias=False)).eval()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0, 2, 4])
    first, conv, dense = groups
    r = LRP("epsilon", first=first, conv=conv, dense=dense).attributions(net, x, t)
    logits = net(x).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(r.sum((1, 2, 3)), logits.detach(), atol=1e-4, rtol=1e-4)


def test_auto_goes_through_zennit_with_a_note_where_ours_cannot():
    class Twice(nn.Module):  # its own forward with a functional add: no rule of ours for it
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 16, 3)

        def forward(self, x):
            h = self.conv(x)
            return self.fc((h + h).flatten(1))
    net, x = Twice().eval(), torch.randn(2, 1, 6, 6)
    with pytest.raises(ValueError, match="own forward"):
        LRP(backend="own").attributions(net, x)
    m = LRP()
    m.warns = False
    assert torch.isfinite(m.attributions(net, x)).all()
    assert any("through zennit" in n for n in m.notes_)
    with pytest.raises(ValueError, match="for the conv layers"):
        LRP(conv="zbox").attributions(net, x)
    with pytest.raises(ValueError, match="alpha must be >= 1"):
        LRP(dense="alphabeta", alpha=0.5).attributions(net, x)
