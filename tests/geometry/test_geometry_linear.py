"""Linear interpreter: exact (W_x, b_x) of piecewise-linear nets; clear errors for the others."""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from explorer.geometry import along_path, local_map, nonlinear_modules
from explorer.models import MLP, SmallCNN


def _double(model):
    return copy.deepcopy(model).double()


def _check_exact(model, x, tol=1e-5, scale=1e-4, classes=None):
    """W_x x + b_x gives the logits, and keeps giving them a small step away (same region)."""
    m = local_map(model, x, dtype=torch.float64, classes=classes)
    rows = slice(None) if classes is None else classes
    ref = _double(model)
    with torch.no_grad():
        logits = ref(x.double()).numpy()[:, rows]
        step = scale * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        moved = ref(x.double() + step).numpy()[:, rows]
    assert np.abs(m.apply(x.double().numpy()) - logits).max() < tol
    assert np.abs(m.apply((x.double() + step).numpy()) - moved).max() < tol
    return m


def test_one_hidden_layer_matches_the_formula(unchanged):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double().eval()
    x = torch.randn(4, 5, dtype=torch.float64)
    with unchanged(net):
        m = local_map(net, x)
    w1, b1, w2, b2 = (t.detach().numpy() for t in (net[0].weight, net[0].bias, net[2].weight, net[2].bias))
    for i, xi in enumerate(x.numpy()):
        on = (w1 @ xi + b1 > 0).astype(float)
        np.testing.assert_allclose(m.weight[i], w2 @ np.diag(on) @ w1, atol=1e-12)
        np.testing.assert_allclose(m.bias[i], w2 @ (on * b1) + b2, atol=1e-12)
    assert m.exact and m.label() == "exact"


def test_smallcnn_reproduces_logits_and_equals_the_jacobian(digits, unchanged):
    torch.manual_seed(0)
    net = SmallCNN().eval()
    x = digits.inputs("test")[:3]
    with unchanged(net):
        m = _check_exact(net, x)
        m32 = local_map(net, x)
    assert np.abs(m32.apply(x.numpy()) - m32.logits).max() < 1e-5
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], x[i])  # (K, C, H, W)
        np.testing.assert_allclose(m32.weight[i], jac.numpy(), atol=1e-6)
    assert m.templates().shape == (3, 10, 1, 8, 8) and m.templates(2).shape == (3, 1, 8, 8)
    share = m.bias_share()
    assert share.shape == (3, 10) and (share >= 0).all() and (share <= 1).all()


def _calibrated(model, shape, seed=0):
    """Seeded BatchNorm statistics from a few random batches (a deep copy in train mode), then eval."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, *shape, generator=g))
    return model.eval()


def test_mlp_with_batchnorm_is_exact(unchanged):
    torch.manual_seed(0)
    net = _calibrated(MLP((1, 8, 8), width=20, depth=2, batchnorm=True), (1, 8, 8))
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    calls = []
    with unchanged(net):
        m = _check_exact(net, x)
        m32 = local_map(net, x, batch_size=2, progress=lambda *a: calls.append(a[:2]))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    jac = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], x[3])
    np.testing.assert_allclose(m32.weight[3], jac.numpy(), atol=1e-6)
    np.testing.assert_allclose(m.weight[3], jac.numpy(), atol=1e-5)


@pytest.mark.slow
def test_resnet18_is_exact_and_equals_the_jacobian(unchanged):
    import torchvision

    torch.manual_seed(0)
    net = _calibrated(torchvision.models.resnet18(num_classes=10), (3, 64, 64))
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with unchanged(net):
        m = _check_exact(net, x, tol=1e-5, scale=1e-6, classes=[0, 4])  # two rows of ten: seconds saved
        m32 = local_map(net, x, classes=[4])
    jac = torch.autograd.functional.jacobian(lambda v: net(v[None])[0, 4], x[0])
    np.testing.assert_allclose(m32.weight[0, 0], jac.numpy(), atol=1e-6)
    assert np.abs(m.weight[0, 1] - jac.numpy()).max() < 1e-5


class _FunctionalGelu(nn.Module):
    def forward(self, x):
        return torch.nn.functional.gelu(x)


def test_not_piecewise_linear_is_named_and_can_be_linearised(unchanged):
    net = nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 6)), ("act", nn.GELU()), ("out", nn.Linear(6, 2))])).eval()
    x = torch.randn(2, 4)
    with pytest.raises(ValueError, match="'act' is GELU"):
        local_map(net, x)
    with unchanged(net):
        m = local_map(net, x, linearise=True)
    assert not m.exact and "GELU" in m.label() and "tangent" in m.label()
    # a functional call in forward() is caught by running it
    hidden = nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 6)), ("bend", _FunctionalGelu()),
                                        ("out", nn.Linear(6, 2))])).eval()
    with pytest.raises(ValueError, match="'bend' is gelu in its forward"):
        local_map(hidden, x)
    attn = nn.MultiheadAttention(4, 1)
    assert nonlinear_modules(attn)[0] == ("(model)", "MultiheadAttention")
    soft = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
    with pytest.raises(ValueError, match="Softmax"):
        local_map(soft, x)


def test_bad_input_is_refused():
    net = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        local_map(net, torch.tensor([[float("nan")] * 4]))
    with pytest.raises(ValueError, match="steps"):
        along_path(net, torch.zeros(4), torch.ones(4), steps=1)


def test_along_path_is_constant_inside_a_region_and_changes_across(unchanged):
    lin = nn.Sequential(nn.Linear(3, 2)).double()
    p = along_path(lin, torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), steps=5)
    assert p.change.max() == 0 and np.allclose(p.cosine_to_start, 1)
    # one ReLU unit h = relu(x0 - 0.5): the map switches once between x = 0 and x = 1
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    with torch.no_grad():
        net[0].weight.fill_(1.0), net[0].bias.fill_(-0.5), net[2].weight.fill_(2.0), net[2].bias.fill_(0.0)
    with unchanged(net):
        p = along_path(net, torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64), steps=11)
    assert (p.change > 0).sum() == 1 and np.flatnonzero(p.change)[0] == 5  # between t = 0.5 and 0.6
    np.testing.assert_allclose(p.maps.weight[-1], [[2.0]])


# --- ties: where W_x is not unique (issue 21, defect 9) -------------------------------------------------------------

def relu_net():
    """z = (x1 - x2, x1 + x2 - 1, 0 x + 0); logits = (z0 + z1 + z2, -z0 + 2 z1): by hand, at x = (1, 1) z0 = 0 (a
    tie: it moves with x), z1 = 1, z2 = 0 but constant (no tie: it bends nothing)."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0, 0.0]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0, 1.0], [-1.0, 2.0, 0.0]]))
        net[2].bias.zero_()
    return net.eval()


def test_a_relu_boundary_is_counted_exactly(unchanged):
    net = relu_net()
    x = torch.tensor([[1.0, 1.0], [2.0, 1.0], [1.0 + 2 ** -23, 1.0]])  # on z0 = 0; inside; within rounding of it
    with unchanged(net):
        m = local_map(net, x)
    np.testing.assert_array_equal(m.ties["1"], [1, 0, 0])
    np.testing.assert_array_equal(m.near_ties["1"], [0, 0, 1])
    np.testing.assert_array_equal(m.on_boundary, [True, False, False])
    np.testing.assert_array_equal(m.near_boundary, [False, False, True])
    assert m.boundary(0) == "on a region boundary: 1 tie (1 1), the local map is one of several"
    assert m.boundary(1) == "" and m.label(1) == "exact" and m.label(0).startswith("exact; on a region boundary")
    assert m.boundary(2).startswith("within float rounding of a region boundary: 1 near tie (1 1)")
    # the map there is one of the two one-sided maps, and they differ: logit 0 has gradient (1, -1) + (1, 1) = (2, 0)
    # with z0 on and (1, 1) with it off
    side = local_map(net, torch.tensor([[1.0 + 1e-3, 1.0], [1.0 - 1e-3, 1.0]]))
    np.testing.assert_allclose(side.weight[:, 0], [[2.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(m.weight[0, 0], [1.0, 1.0])  # PyTorch's relu'(0) = 0: the off side


def test_a_max_pool_tie_is_counted_exactly(unchanged):
    """Left window: max 1 attained twice by two pixels (a tie); right window: all four ReLU outputs 0 and dead, so
    the tie among them bends nothing and does not count (a plain count without the tangent sees 2)."""
    from explorer.geometry.linear import count_ties

    net = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 2)).eval()
    x = torch.tensor([[[[1.0, 1.0, -1.0, -2.0], [0.5, 0.25, -3.0, -1.0]]]])
    with unchanged(net):
        m = local_map(net, x)
    assert {k: v.tolist() for k, v in m.ties.items()} == {"0": [0], "1": [1]} and m.tie_count(near=True) == [0]
    with torch.no_grad(), count_ties(net) as (plain, _):
        net(x)
    assert plain["1"].tolist() == [2]
    x[0, 0, 0, 0] = 1.5  # no tie now: inside a region
    assert not local_map(net, x).on_boundary[0]


def test_other_pools_and_kinks_ties():
    from explorer.geometry.linear import max_pool_ties, pool_windows

    gen = torch.Generator().manual_seed(0)
    for pool, shape in [(nn.MaxPool2d(3, 2, 1), (2, 3, 9, 11)), (nn.MaxPool2d(3, 2, ceil_mode=True), (2, 3, 9, 11)),
                        (nn.MaxPool2d(3, 1, 1, dilation=2), (2, 3, 9, 11)), (nn.MaxPool1d(3, 2, 1, ceil_mode=True),
                        (2, 3, 10)), (nn.MaxPool3d((2, 3, 2), (1, 2, 2), (1, 1, 0)), (2, 3, 5, 6, 7))]:
        x = torch.randn(shape, generator=gen)
        np.testing.assert_array_equal(pool_windows(pool, x, pool(x)).amax(-1).numpy(), pool(x).numpy())
    x = torch.tensor([[[[2.0, 0.0], [2.0, 1.0]]], [[[2.0, 0.0], [1.0, 1.0]]]])  # image 0: max attained twice
    pool = nn.AdaptiveMaxPool2d(1)
    tied, near = max_pool_ties(pool, x, torch.randn(x.shape, generator=gen), pool(x))
    assert tied.tolist() == [1, 0] and near.tolist() == [0, 0]
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU6(), nn.Linear(2, 1)).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2)), net[0].bias.zero_()
    assert local_map(net, torch.tensor([[6.0, 0.0], [3.0, 7.0]])).ties["1"].tolist() == [2, 0]  # kinks at 0 and 6


@pytest.mark.slow
def test_resnet18_layout_difference_is_explained_by_ties(unchanged):
    """Seeded random resnet18, 128 x 128: an input with a zero region sits on region boundaries (its first ReLU's
    pre-activations are exactly 0 there and move with the input), and its W_x differs between a channels-last and
    a contiguous copy: every ReLU that is on in one layout and off in the other is a counted near tie. A smooth
    input has no ties, and the two layouts agree on it."""
    import torchvision

    from explorer.geometry.linear import ROUNDING

    sys_path = __import__("sys").path
    sys_path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "zoo"))
    from conftest import smooth_images

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    zero = smooth_images(1, 8, size=128)
    zero[..., 25:96, 16:85] = 0
    smooth = smooth_images(1, 8, size=128)
    pre = {}

    def record(name):
        return lambda mod, inp: pre.setdefault(name, []).append(inp[0].detach().contiguous().clone())
    hooks = [m.register_forward_pre_hook(record(n)) for n, m in net.named_modules() if isinstance(m, nn.ReLU)]
    try:
        with unchanged(net):
            maps, states = {}, {}
            for name, x in (("zero", zero), ("smooth", smooth)):
                for layout in (torch.contiguous_format, torch.channels_last):
                    pre.clear()
                    maps[name, layout] = local_map(net, x.contiguous(memory_format=layout))
                    states[name, layout] = {n: list(v) for n, v in pre.items()}
    finally:
        for h in hooks:
            h.remove()
    a, b = maps["zero", torch.contiguous_format], maps["zero", torch.channels_last]
    assert a.on_boundary[0] and b.on_boundary[0] and a.ties["relu"][0] > 0
    # exact ties (a pre-activation exactly 0 that moves) are a rounding's outcome too: the counts agree to 1%
    assert abs(int(b.tie_count()[0]) - int(a.tie_count()[0])) <= 0.01 * a.tie_count()[0]
    assert np.linalg.norm(a.weight - b.weight) / np.linalg.norm(a.weight) > 1e-3  # the layouts pick different maps
    flipped = 0
    for n, calls in states["zero", torch.contiguous_format].items():
        for za, zb in zip(calls, states["zero", torch.channels_last][n], strict=True):
            differ = (za > 0) != (zb > 0)
            tol = ROUNDING * torch.finfo(za.dtype).eps * za.abs().amax()
            assert (za[differ].abs() <= tol).all() and (zb[differ].abs() <= tol).all(), n  # all near ties
            flipped += int(differ.sum())
    assert 0 < flipped <= a.tie_count(near=True)[0]
    c, d = maps["smooth", torch.contiguous_format], maps["smooth", torch.channels_last]
    assert not c.on_boundary[0] and not d.on_boundary[0]
    assert np.linalg.norm(c.weight - d.weight) / np.linalg.norm(c.weight) < 1e-5
