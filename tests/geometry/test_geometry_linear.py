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
