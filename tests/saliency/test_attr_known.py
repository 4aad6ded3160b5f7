"""Known answers for the attribution methods on hand-built models; bad input; batches; the model untouched."""
import pytest
import torch
from torch import nn

from explorer.saliency import (
    LRP,
    METHODS,
    Attribution,
    Deconvolution,
    DeepLIFT,
    GradientSHAP,
    GuidedBackprop,
    Occlusion,
)
from explorer.saliency.methods.guided_gradcam import GuidedGradCAM


def linear_net(w1, w2, b1=None, b2=None):
    """(N, 1, 1, k) -> Flatten -> Linear(w1, b1) -> ReLU -> Linear(w2, b2), with the given weights."""
    l1, l2 = nn.Linear(w1.shape[1], w1.shape[0]), nn.Linear(w2.shape[1], w2.shape[0])
    with torch.no_grad():
        l1.weight.copy_(w1), l2.weight.copy_(w2)
        l1.bias.copy_(torch.zeros(len(w1)) if b1 is None else b1)
        l2.bias.copy_(torch.zeros(len(w2)) if b2 is None else b2)
    return nn.Sequential(nn.Flatten(), l1, nn.ReLU(), l2).eval()


class Reused(nn.Module):
    """Two conv layers and a linear read-out sharing ONE in-place ReLU module (called three times)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1, self.c2 = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(3 * 36, 8), nn.Linear(8, 4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        a = self.relu(self.c2(self.relu(self.c1(x))))
        return self.fc2(self.relu(self.fc1(a.flatten(1))))


def test_guided_backprop_and_deconvolution_known_answer(unchanged):
    """f = v . ReLU(W x): GB = W^T (ReLU(v) * m), deconvolution = W^T ReLU(v), m = 1[W x > 0]."""
    w = torch.tensor([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 2.0]])
    v = torch.tensor([[2.0, -1.0, 3.0]])
    net = linear_net(w, v)
    x = torch.tensor([[[[1.0, 0.5, 1.0]]]])  # W x = [0.5, 0, 1.5]: unit 1 is off (z = 0)
    m = (w @ x.flatten() > 0).float()
    with unchanged(net):
        gb = GuidedBackprop().attributions(net, x, 0).flatten()
        dc = Deconvolution().attributions(net, x, 0).flatten()
    torch.testing.assert_close(gb, w.T @ (v[0].clamp_min(0) * m))
    torch.testing.assert_close(dc, w.T @ v[0].clamp_min(0))


def test_guided_backprop_with_a_reused_inplace_relu(unchanged):
    """Each call of the shared ReLU uses its own mask: the same as three separate ReLUs, computed by hand."""
    net = Reused().eval()
    x = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([1, 3])
    with unchanged(net):
        gb = GuidedBackprop().attributions(net, x, t)
    xg = x.clone().requires_grad_(True)
    z1 = net.c1(xg)
    a1 = z1.clamp_min(0)
    z2 = net.c2(a1)
    a2 = z2.clamp_min(0)
    z3 = net.fc1(a2.flatten(1))
    # guided: at each ReLU clip the gradient to >= 0 and keep the forward mask
    r3 = (net.fc2.weight[t]).clamp_min(0) * (z3 > 0)  # (N, 8)
    (r2,) = torch.autograd.grad(z3, a2, r3, retain_graph=True)
    r2 = r2.clamp_min(0) * (z2 > 0)
    (r1,) = torch.autograd.grad(z2, a1, r2, retain_graph=True)
    r1 = r1.clamp_min(0) * (z1 > 0)
    (r0,) = torch.autograd.grad(z1, xg, r1)
    torch.testing.assert_close(gb, r0, atol=1e-6, rtol=0)
    assert gb.abs().max() > 0


def test_deeplift_known_answer():
    """f = v . ReLU(W x + c), x' = 0: m = (ReLU(z) - ReLU(z')) / (z - z'), attr = x * W^T (v * m)."""
    w = torch.tensor([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 2.0]])
    c = torch.tensor([0.5, -0.25, 0.1])
    v = torch.tensor([[2.0, -1.0, 3.0]])
    net = linear_net(w, v, b1=c)
    x = torch.tensor([[[[1.0, 0.5, -1.0]]]])
    z, z0 = w @ x.flatten() + c, c
    m = (z.clamp_min(0) - z0.clamp_min(0)) / (z - z0)
    attr = DeepLIFT().attributions(net, x, 0).flatten()
    torch.testing.assert_close(attr, x.flatten() * (w.T @ (v[0] * m)))
    assert abs(DeepLIFT().delta(net, x, 0).item()) < 1e-6


def test_deeplift_completeness_with_a_reused_inplace_relu(unchanged):
    """sum(attr) = S_t(x) - S_t(x') within 1e-5, with one ReLU module called three times (in place)."""
    net = Reused().eval()
    x = torch.randn(5, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0, 1, 2, 3, 0])
    for baseline in (0.0, 0.3):
        with unchanged(net):
            d = DeepLIFT(baseline).delta(net, x, t)
        assert d.abs().max() < 1e-5, d
    # and the attributions are not the plain input x gradient (the rule did something)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(xg).gather(1, t[:, None]).sum(), xg)
    assert (DeepLIFT().attributions(net, x, t) - x * g).abs().max() > 1e-3


def test_deeplift_completeness_through_overlapping_maxpool():
    """3x3 stride-2 max-pool (resnet's stem): contributions add where windows share a maximum."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.Conv2d(3, 3, 3),
                        nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    net(torch.zeros(1, 1, 9, 9))
    net.eval()
    x = torch.randn(4, 1, 9, 9, generator=torch.Generator().manual_seed(3))
    assert DeepLIFT().delta(net, x, torch.tensor([0, 1, 2, 0])).abs().max() < 1e-5


LRP_CASE = (torch.tensor([[3.0, -1.0], [1.0, 1.0]]), torch.tensor([[1.0, 1.0], [0.0, 0.0]]))


@pytest.mark.parametrize("backend", ["own", "zennit"])
@pytest.mark.parametrize("rule, eps, expected", [
    # x = [1, 2]: z1 = [1, 3], a1 = [1, 3], S_0 = 4 (the starting relevance)
    # epsilon, eps ~ 0: R(a1) = a1 * 1 * 4 / 4 = [1, 3]; R(x) = [3, -2] * 1/1 + [1, 2] * 3/3 = [4, 0]
    ("epsilon", 1e-9, [4.0, 0.0]),
    # eps = 1: R(a1) = [1, 3] * 4 / 5 = [0.8, 2.4]; R(x) = [3, -2] * 0.8/2 + [1, 2] * 2.4/4 = [1.8, 0.4]
    ("epsilon", 1.0, [1.8, 0.4]),
    # z+: W1+ = [[3, 0], [1, 1]]: R(x) = [3, 0] * 1/3 + [1, 2] * 3/3 = [2, 2]
    ("zplus", 1e-9, [2.0, 2.0]),
])
def test_lrp_hand_computed_relevances(rule, eps, expected, backend, unchanged):
    if backend == "zennit":
        pytest.importorskip("zennit")
    net = linear_net(*LRP_CASE)
    x = torch.tensor([[[[1.0, 2.0]]]])
    with unchanged(net):
        r = LRP(rule, eps=eps, backend=backend).attributions(net, x, 0).flatten()
    torch.testing.assert_close(r, torch.tensor(expected), atol=1e-6, rtol=0)


def test_lrp_clear_errors(tiny_cnn):
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="no rule for layer '1' \\(Upsample\\)"):
        LRP(backend="own")(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2), nn.Flatten(),
                                         nn.LazyLinear(3)), x)
    with pytest.raises(ValueError, match="nn.Sequential"):
        LRP(backend="own")(Reused(), torch.randn(2, 1, 6, 6))
    with pytest.raises(ValueError, match="rule"):
        LRP("alpha-beta")(tiny_cnn, x)
    with pytest.raises(ValueError, match="backend"):
        LRP(backend="torch")(tiny_cnn, x)


def test_occlusion_known_answers():
    """Linear f = w . x: a 1x1 window gives w * x (= input x gradient); a 2x2 window on a 3x3 image with stride 1
    gives each pixel the mean of the sums of w * x over the windows covering it."""
    w = torch.arange(1.0, 10.0).view(1, 9) * torch.tensor([1.0, -1.0, 1.0] * 3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(9, 2, bias=False)).eval()
    with torch.no_grad():
        net[1].weight.copy_(torch.cat([w, -w]))
    x = torch.randn(1, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    wx = (w.view(3, 3) * x[0, 0])
    torch.testing.assert_close(Occlusion(1, 1).attributions(net, x, 0)[0, 0], wx)
    sums = torch.stack([wx[i:i + 2, j:j + 2].sum() for i in range(2) for j in range(2)]).view(2, 2)
    cover = {(r, c): [(i, j) for i in range(2) for j in range(2) if i <= r < i + 2 and j <= c < j + 2]
             for r in range(3) for c in range(3)}
    expected = torch.tensor([[torch.stack([sums[i, j] for i, j in cover[r, c]]).mean() for c in range(3)]
                             for r in range(3)])
    torch.testing.assert_close(Occlusion(2, 1).attributions(net, x, 0)[0, 0], expected)


def test_occlusion_bad_windows(tiny_cnn):
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="larger than the image"):
        Occlusion(9)(tiny_cnn, x)
    with pytest.raises(ValueError, match=">= 1"):
        Occlusion(0)(tiny_cnn, x)
    with pytest.raises(ValueError, match="stride 3 is larger than the window 2"):
        Occlusion(2, 3)(tiny_cnn, x)


def test_gradient_shap_linear_known_answer_and_bad_input(tiny_cnn):
    """Linear f, one baseline b, no noise: attr = w * (x - b) for any alpha."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    b = torch.full((1, 1, 2, 2), 0.5)
    attr = GradientSHAP(samples=4, baselines=b).attributions(net, x, [0, 1, 0])
    w = net[1].weight.detach()[[0, 1, 0]].view(3, 1, 2, 2)
    torch.testing.assert_close(attr, w * (x - b))
    with pytest.raises(ValueError, match="samples must be >= 1"):
        GradientSHAP(samples=0)(tiny_cnn, torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="baselines must have shape"):
        GradientSHAP(baselines=torch.zeros(2, 3, 8, 8))(tiny_cnn, torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="stdev"):
        GradientSHAP(stdev=-1.0)(tiny_cnn, torch.randn(2, 1, 8, 8))


def test_guided_gradcam_errors(tiny_cnn):
    with pytest.raises(ValueError, match="one layer"):
        GuidedGradCAM(["conv1", "conv2"])(tiny_cnn, torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="interpolate"):
        GuidedGradCAM(interpolate="cubic")(tiny_cnn, torch.randn(2, 1, 8, 8))


ATTRIBUTION = [n for n, c in METHODS.items() if issubclass(c, Attribution)]


@pytest.mark.parametrize("name", ATTRIBUTION)
def test_batch_equals_single_images_and_model_untouched(tiny_cnn, unchanged, name):
    cls = METHODS[name]
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([2, 0, 1])
    method = cls(**({"window": 2} if cls is Occlusion else {}))
    with unchanged(tiny_cnn):
        batch = method.attributions(tiny_cnn, x, t)
        if cls is GradientSHAP:  # draws depend on the batch: compare against the same draws per image
            return
        single = torch.cat([method.attributions(tiny_cnn, x[i:i + 1], t[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, single, atol=1e-6, rtol=0)


def test_attribution_classes_expose_family_and_choices():
    assert set(ATTRIBUTION) == {"Guided backprop", "Guided Grad-CAM", "Deconvolution", "Occlusion", "GradientSHAP",
                                "DeepLIFT", "LRP", "Feature ablation", "Shapley sampling", "LIME", "KernelSHAP"}
    assert METHODS["LRP"].choices["rule"] == ("epsilon", "zplus", "epsilon_plus", "EpsilonPlus", "EpsilonGammaBox",
                                              "EpsilonAlpha2Beta1", "EpsilonPlusFlat", "EpsilonAlpha2Beta1Flat")
    assert METHODS["Guided Grad-CAM"].choices["interpolate"] == ("nearest", "bilinear")


def test_inplace_flags_come_back_when_the_forward_fails():
    """module_rules runs in-place ReLUs out of place for its block only, also when the model raises inside it."""
    from explorer.saliency.methods.attribution import module_rules

    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            self.relu(x.clone())
            raise RuntimeError("boom")

    net = Boom()
    with pytest.raises(RuntimeError, match="boom"), module_rules(net, (nn.ReLU,), lambda m, z, y: y):
        assert net.relu.inplace is False
        net(torch.randn(2, 3))
    assert net.relu.inplace is True and not net.relu._forward_hooks and not net.relu._forward_pre_hooks


class FunctionalNet(nn.Module):
    """tiny_cnn's layers with ReLUs applied as functions (F.relu, Tensor.relu, torch.sigmoid): no ReLU module."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1), nn.Linear(6, 3)

    def forward(self, x):
        a = torch.nn.functional.relu(self.conv1(x))
        a = self.conv2(a).relu() * torch.sigmoid(a.mean())
        return self.fc(a.mean(dim=(2, 3)))


@pytest.mark.parametrize("cls, warned", [(GuidedBackprop, "Guided backprop"), (Deconvolution, "Deconvolution"),
                                         (DeepLIFT, "DeepLIFT"), (GuidedGradCAM, "Guided backprop")])
def test_functional_relus_warn_that_the_method_falls_back_to_the_gradient(cls, warned, tiny_cnn, unchanged):
    import warnings

    from explorer.saliency.methods.fallback import FallbackWarning

    model, x = FunctionalNet().eval(), torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    method = cls(["conv2"]) if cls is GuidedGradCAM else cls()
    with unchanged(model), pytest.warns(FallbackWarning, match=f"^{warned}: FunctionalNet applies .*relu.* as a "
                                                               f"function .*plain gradient"):
        maps = method(model, x)  # silently the plain gradient before
    assert maps.shape == (2, 8, 8) and torch.isfinite(maps).all()
    if cls is DeepLIFT:
        with pytest.warns(FallbackWarning, match="sigmoid"):
            method(model, x)
    with warnings.catch_warnings(), unchanged(tiny_cnn):  # nn.ReLU modules (in place): no warning
        warnings.simplefilter("error", FallbackWarning)
        method = cls(["conv2"]) if cls is GuidedGradCAM else cls()
        method(tiny_cnn, x)


def test_with_functional_relus_guided_backprop_is_the_input_gradient():
    import warnings

    model, x = FunctionalNet().eval(), torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gb = GuidedBackprop().attributions(model, x)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    (grad,) = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), xg)
    assert torch.allclose(gb, grad, atol=1e-7)  # what the warning says
