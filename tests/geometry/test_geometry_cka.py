"""CKA: invariances, the high-dimension bias, parity with pytorch-cka, layer matrices; neuron matching."""
import copy

import numpy as np
import pytest
import torch

from explorer.geometry import cka_from_grams, cka_layers, cka_matrix, gram, linear_cka, match_layers, match_units
from explorer.geometry.features import stages


def _x(n=50, p=20, seed=0):
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariances(debiased):
    x = _x()
    q, _ = torch.linalg.qr(_x(20, 20, seed=1))
    assert linear_cka(x, x @ q, debiased) == pytest.approx(1, abs=1e-12)
    assert linear_cka(x, 0.01 * x, debiased) == pytest.approx(1, abs=1e-12)
    assert linear_cka(x, x + 3.0, debiased) == pytest.approx(1, abs=1e-12)
    a = _x(20, 20, seed=2)  # a general invertible map is not an invariance
    assert linear_cka(x, x @ a, debiased) < 0.95


def test_two_formulas_agree_and_bias_in_high_dimension():
    x, y = _x(), _x(seed=5)[:, :7] + 0.5 * _x()[:, :7]
    feature_space = linear_cka(x, y)  # p < n: the feature-space formula
    assert cka_from_grams(gram(x), gram(y)) == pytest.approx(feature_space, abs=1e-12)
    hx, hy = x - x.mean(0), y - y.mean(0)  # the reference's definition, written out once more
    assert feature_space == pytest.approx(float(torch.linalg.norm(hy.T @ hx) ** 2 / (
        torch.linalg.norm(hx.T @ hx) * torch.linalg.norm(hy.T @ hy))), abs=1e-12)
    wide_a, wide_b = _x(20, 2000, seed=3), _x(20, 2000, seed=4)  # independent, p >> n
    assert linear_cka(wide_a, wide_b) > 0.9
    assert abs(linear_cka(wide_a, wide_b, debiased=True)) < 0.2


def test_parity_with_pytorch_cka():
    cka = pytest.importorskip("cka")  # pytorch-cka: HSIC1 on raw Gram matrices, i.e. debiased CKA
    x = _x(64, 30, seed=6)
    y = torch.tanh(x @ _x(30, 12, seed=7)) + 0.3 * _x(64, 12, seed=8)
    theirs = float(cka.cka_from_features(x, y)[0, 0])
    assert 0 < theirs < 1
    assert linear_cka(x, y, debiased=True) == pytest.approx(theirs, abs=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="50 and 40"):
        linear_cka(_x(), _x(40))
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(_x(), _x() * float("nan"))
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(_x(3), _x(3), debiased=True)
    with pytest.raises(ValueError, match="same examples"):
        cka_matrix({"a": gram(_x())}, {"b": gram(_x(40))})


def test_layer_matrix_of_one_and_two_models(tiny_cnn, unchanged):
    x = torch.randn(24, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    other = copy.deepcopy(tiny_cnn)
    with torch.no_grad():
        other.conv1.weight.mul_(-1)
    with unchanged(tiny_cnn):
        one = cka_layers(tiny_cnn, x)
        two = cka_layers(tiny_cnn, x, ["conv1", "fc"], model_b=other, layers_b=["conv1", "conv2", "fc"])
    assert one.rows == tuple(stages(tiny_cnn, x)) == one.cols
    np.testing.assert_allclose(np.diag(one.values), 1, atol=1e-12)
    np.testing.assert_allclose(one.values, one.values.T)
    assert two.values.shape == (2, 3) and two.values[0, 0] == pytest.approx(1, abs=1e-12)  # sign flip: CKA 1
    with pytest.raises(KeyError, match="conv9"):
        cka_layers(tiny_cnn, x, ["conv9"])


def test_matching_recovers_a_permutation(digits, unchanged):
    from explorer.landscape.align import permute
    from explorer.models import MLP

    torch.manual_seed(0)
    a = MLP((1, 8, 8), width=12).eval()
    perm = np.random.default_rng(0).permutation(12)
    b = copy.deepcopy(a)
    b.load_state_dict(permute(a.state_dict(), a, [perm]))
    x = digits.inputs("test")[:64]
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-6)  # same function
    with unchanged(a), unchanged(b):
        m = match_layers(a, "fc1", b, "fc1", x)
    np.testing.assert_array_equal(m.perm, np.argsort(perm))
    np.testing.assert_allclose(m.matched, 1, atol=1e-9)
    np.testing.assert_array_equal(m.semi, np.argsort(perm))
    conv = match_units(torch.randn(5, 3, 4, 4), torch.randn(5, 2, 4, 4))  # positions count as samples
    assert conv.corr.shape == (3, 2) and len(conv.perm) == 2


def test_minibatch_cka_matches_pytorch_cka_on_a_model(tiny_cnn, unchanged):
    cka = pytest.importorskip("cka")
    from torch.utils.data import DataLoader, TensorDataset

    # pytorch-cka keeps a reference to each hooked output, so an in-place ReLU after conv2 rewrites what it
    # recorded (conv2 becomes relu2): compare on a copy with out-of-place ReLUs (ours clones what it records)
    # Both in float64: theirs takes HSIC1 of raw (uncentred) float32 Grams, whose cancellation costs ~1e-2 here
    # (its matrix is not even symmetric); ours centres the features first.
    net = copy.deepcopy(tiny_cnn).double()
    net.relu1.inplace = net.relu2.inplace = False
    x = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    layers = ["conv1", "conv2", "gap", "fc"]
    with unchanged(tiny_cnn):
        ours = cka_layers(tiny_cnn, x.float(), layers, debiased=True, minibatch=10)
    theirs = cka.compute_cka(net, net, DataLoader(TensorDataset(x), batch_size=10), layers=layers,
                             progress=False)[0].double().numpy()
    np.testing.assert_allclose(np.clip(ours.values, 0, 1), theirs, atol=1e-5)  # theirs is clamped to [0, 1]
    with pytest.raises(ValueError, match="minibatch"):
        cka_layers(tiny_cnn, x, layers, minibatch=2)
