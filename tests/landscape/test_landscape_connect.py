"""Mode connectivity: barrier definitions by hand, a model with itself, endpoints, layer-wise, BatchNorm."""
import copy

import numpy as np
import pytest
import torch

from explorer.landscape import barriers, interpolate, layerwise_barriers, permute, weight_matching
from explorer.models import MLP
from explorer.train import evaluate


@pytest.fixture
def pair():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 1, 4, 4, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    torch.manual_seed(0)
    a = MLP((1, 4, 4), 6, 2, 3, batchnorm=True)
    torch.manual_seed(1)
    b = MLP((1, 4, 4), 6, 2, 3, batchnorm=True)
    for m in (a, b):
        with torch.no_grad():
            m.train()
            m(x * 1.5 + 0.3)
        m.eval()
    return a, b, x, y


def test_barrier_definitions_by_hand():
    al = [0.0, 0.5, 1.0]
    assert barriers(al, [1.0, 3.0, 2.0]) == {"frankle": 1.5, "entezari": 1.5}
    # a monotone path: Frankle counts the higher endpoint (peak - mean), Entezari measures from the chord
    assert barriers(al, [1.0, 1.6, 3.0]) == pytest.approx({"frankle": 1.0, "entezari": 0.0})
    assert barriers([-0.5, 0.0, 1.0, 1.5], [9.0, 1.0, 1.0, 9.0]) == {"frankle": 0.0, "entezari": 0.0}
    with pytest.raises(ValueError, match="alpha = 0 and alpha = 1"):
        barriers([0.1, 0.9], [1.0, 2.0])


def test_model_with_itself_has_zero_barrier(pair, unchanged):
    a, _, x, y = pair
    with unchanged(a):
        path = interpolate(a, a, copy.deepcopy(a).state_dict(), x, y)
    assert len(path.alphas) >= 25 and np.ptp(path.loss) == 0.0
    assert all(v == 0.0 for v in path.barriers().values())


def test_endpoints_equal_the_models(pair, unchanged):
    a, b, x, y = pair
    with unchanged(a), unchanged(b):
        path = interpolate(a, a, b, x, y, n=5)
    assert path.loss[0] == pytest.approx(evaluate(a, x, y).loss, rel=1e-6)
    assert path.loss[-1] == pytest.approx(evaluate(b, x, y).loss, rel=1e-6)
    assert path.accuracy[-1] == pytest.approx(evaluate(b, x, y).accuracy)
    bars = path.barriers()
    assert set(bars) == {"frankle_loss", "entezari_loss", "frankle_error", "entezari_error"}
    assert bars["entezari_loss"] >= 0.0


def test_layerwise_moves_one_layer(pair):
    a, b, x, y = pair
    path = interpolate(a, a, b, x, y, alphas=[0.0, 1.0], layers=["out"])
    mixed = copy.deepcopy(a)
    mixed.out.load_state_dict(b.out.state_dict())
    assert path.loss[1] == pytest.approx(evaluate(mixed, x, y).loss, rel=1e-6)
    bn = interpolate(a, a, b, x, y, alphas=[0.0, 1.0], layers=["bn1"])
    mixed = copy.deepcopy(a)
    mixed.bn1.load_state_dict(b.bn1.state_dict())  # weights and running statistics of the moved layer
    assert bn.loss[1] == pytest.approx(evaluate(mixed, x, y).loss, rel=1e-6)
    per_layer = layerwise_barriers(a, a, b, x, y, n=5)
    assert list(per_layer) == ["fc1", "bn1", "fc2", "bn2", "out"]
    with pytest.raises(KeyError, match="choose among"):
        interpolate(a, a, b, x, y, layers=["conv7"])


def test_bn_recomputed_along_path_and_architecture_check(pair, unchanged):
    a, b, x, y = pair
    with unchanged(a):
        path = interpolate(a, a, b, x, y, n=3, bn_x=x)
    ref = copy.deepcopy(a)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.reset_running_stats()
            m.momentum = None
    ref.train()
    with torch.no_grad():
        ref(x)
    assert path.loss[0] == pytest.approx(evaluate(ref.eval(), x, y).loss, rel=1e-5)
    with pytest.raises(ValueError, match="different architectures"):
        interpolate(a, a, MLP((1, 4, 4), 7, 2, 3, batchnorm=True), x, y)


def test_weight_matching_undoes_a_permutation(pair, unchanged):
    a, _, x, y = pair
    rng = np.random.default_rng(1)
    perms = [rng.permutation(6), rng.permutation(6)]
    b = copy.deepcopy(a)
    b.load_state_dict(permute(a.state_dict(), a, perms))
    torch.testing.assert_close(b(x), a(x))  # the same function, other weights
    before = interpolate(a, a, b, x, y, n=9).barriers()
    with unchanged(a), unchanged(b):
        aligned, found = weight_matching(a, a, b)
    assert all(torch.equal(aligned[k], v) for k, v in a.state_dict().items())  # b mapped back onto a exactly
    assert all(np.array_equal(f[p], np.arange(6)) for f, p in zip(found, perms, strict=True))  # the inverses
    after = interpolate(a, a, aligned, x, y, n=9).barriers()
    assert before["entezari_loss"] > 0.01 and after["entezari_loss"] == 0.0
    odd = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match="supports MLPs and plain CNNs"):
        weight_matching(odd, odd, odd)


class Residual(torch.nn.Module):
    """conv -> relu -> conv plus a skip connection: permuting conv2's filters breaks the sum."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Conv2d(4, 2, 3, padding=1)
        self.fc = torch.nn.Linear(2 * 16, 3)

    def forward(self, x):
        return self.fc((x + self.conv2(self.conv1(x).relu())).flatten(1))


def test_weight_matching_on_a_plain_cnn(unchanged):
    from explorer.models import SmallCNN

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 1, 8, 8, generator=gen)
    torch.manual_seed(0)
    a = SmallCNN(1, 3, 4).eval()  # conv 4 -> conv 8 -> pool -> conv 16 -> GAP -> fc
    rng = np.random.default_rng(2)
    perms = [rng.permutation(4), rng.permutation(8), rng.permutation(16)]
    b = copy.deepcopy(a)
    b.load_state_dict(permute(a.state_dict(), a, perms))
    torch.testing.assert_close(b(x), a(x))
    with unchanged(a), unchanged(b):
        aligned, found = weight_matching(a, a, b, check_x=x)
    assert all(torch.equal(aligned[k], v) for k, v in a.state_dict().items())
    assert all(np.array_equal(f[p], np.arange(len(p))) for f, p in zip(found, perms, strict=True))
    # a Linear after flattening C x h x w moves whole blocks of h*w columns with each channel
    flat = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(3 * 64, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).eval()
    other = copy.deepcopy(flat)
    other.load_state_dict(permute(flat.state_dict(), flat, [rng.permutation(3), rng.permutation(5)]))
    torch.testing.assert_close(other(x), flat(x))
    aligned, _ = weight_matching(flat, flat, other, check_x=x)
    assert all(torch.equal(aligned[k], v) for k, v in flat.state_dict().items())


def test_weight_matching_refuses_a_skip_connection():
    x = torch.randn(6, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    a = Residual().eval()
    b = copy.deepcopy(a)  # a with conv2's two filters swapped: matching swaps them back, which the skip forbids
    b.load_state_dict(permute(a.state_dict(), a, [np.arange(4), np.array([1, 0])]))
    assert not torch.allclose(a(x), b(x))
    with pytest.raises(ValueError, match="plain chain"):
        weight_matching(a, a, b, check_x=x)
