"""Minibatch CKA (Nguyen et al. 2021): full-batch equality, invariances, pytorch-cka parity, memory fixed by batch."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from explorer.geometry import cka_layers, linear_cka, minibatch_cka
from explorer.geometry.minibatch import hsic_pairs


def _x(n=48, p=20, seed=0):
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class Two(nn.Module):
    """Identity layers whose outputs are given feature maps: 'x' -> X, 'y' -> f(X) (CKA of known features)."""

    def __init__(self, f):
        super().__init__()
        self.x, self.y, self.f = nn.Identity(), nn.Identity(), f

    def forward(self, x):
        return self.y(self.f(self.x(x)))


@pytest.mark.parametrize("debiased", [False, True])
def test_batch_all_is_the_full_batch_cka(debiased):
    x = _x()
    w = _x(20, 7, seed=1)
    model = Two(lambda t: torch.tanh(t @ w))
    got = minibatch_cka(model, x, ["x", "y"], batch=len(x), debiased=debiased)
    want = linear_cka(x, torch.tanh(x @ w), debiased)
    assert got.values[0, 1] == pytest.approx(want, abs=1e-12) and 0.2 < want < 0.95
    np.testing.assert_allclose(np.diag(got.values), 1, atol=1e-12)
    np.testing.assert_allclose(got.values, got.values.T, atol=1e-12)


def test_invariances_hold_per_batch():
    x = _x(64)
    q, _ = torch.linalg.qr(_x(20, 20, seed=2))
    for f in (lambda t: t @ q, lambda t: 0.01 * t, lambda t: t + 3.0):
        got = minibatch_cka(Two(f), x, ["x", "y"], batch=16)
        assert got.values[0, 1] == pytest.approx(1, abs=1e-12)
    a = _x(20, 20, seed=3)  # a general invertible map is not an invariance
    assert minibatch_cka(Two(lambda t: t @ a), x, ["x", "y"], batch=16).values[0, 1] < 0.95


def test_sum_of_batches_is_the_sum_of_hsic1():
    x, y = _x(40), torch.tanh(_x(40) @ _x(20, 5, seed=4))
    k, lm = x @ x.T, y @ y.T
    from explorer.geometry import hsic1

    parts = [(hsic1(k[s, s], lm[s, s]), hsic1(k[s, s], k[s, s]), hsic1(lm[s, s], lm[s, s]))
             for s in (slice(0, 10), slice(10, 20), slice(20, 30), slice(30, 40))]
    xy, xx, yy = (sum(p[i] for p in parts) for i in range(3))
    got = minibatch_cka(Two(lambda t: torch.tanh(t @ _x(20, 5, seed=4))), x, ["x", "y"], batch=10)
    assert got.values[0, 1] == pytest.approx(float(xy / torch.sqrt(xx * yy)), abs=1e-12)
    stack = torch.stack([k[:10, :10], lm[:10, :10]])
    np.testing.assert_allclose(hsic_pairs(stack, stack)[0, 1].item(), hsic1(k[:10, :10], lm[:10, :10]).item(),
                               rtol=1e-12)


def test_two_models_and_the_old_paths(tiny_cnn, unchanged):
    x = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    other = copy.deepcopy(tiny_cnn)
    with torch.no_grad():
        other.conv1.weight.mul_(-1)
    with unchanged(tiny_cnn), unchanged(other):
        two = minibatch_cka(tiny_cnn, x, ["conv1", "fc"], other, ["conv1", "conv2", "fc"], batch=10)
        full = cka_layers(tiny_cnn, x, ["conv1", "fc"], model_b=other, layers_b=["conv1", "conv2", "fc"],
                          debiased=True)
        one = minibatch_cka(tiny_cnn, x, batch=40)
    assert two.values.shape == (2, 3) and two.values[0, 0] == pytest.approx(1, abs=1e-6)  # a sign flip: CKA 1
    assert one.rows == full.rows[:1] + one.rows[1:] and one.rows == one.cols
    np.testing.assert_allclose(one.values, cka_layers(tiny_cnn, x, debiased=True).values, atol=1e-6)
    assert np.abs(two.values - full.values).max() < 0.2  # batches of 10 estimate the 40-input value


def test_parity_with_pytorch_cka(tiny_cnn):
    cka = pytest.importorskip("cka")
    from torch.utils.data import DataLoader, TensorDataset

    net = copy.deepcopy(tiny_cnn).double()  # see test_geometry_cka: out-of-place ReLUs and float64 for theirs
    net.relu1.inplace = net.relu2.inplace = False
    other = copy.deepcopy(net)
    with torch.no_grad():
        other.conv2.weight.add_(0.3 * torch.randn(other.conv2.weight.shape, generator=torch.Generator()
                                                  .manual_seed(5), dtype=torch.float64))
    x = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    layers = ["conv1", "conv2", "gap", "fc"]
    ours = minibatch_cka(net, x, layers, other, layers, batch=10)
    theirs = cka.compute_cka(net, other, DataLoader(TensorDataset(x), batch_size=10), layers=layers,
                             progress=False)[0].numpy()
    np.testing.assert_allclose(np.clip(ours.values, 0, 1), theirs, atol=1e-10)  # theirs is clamped to [0, 1]


def test_memory_is_fixed_by_the_batch(tiny_cnn, largest_tensor):
    gen = torch.Generator().manual_seed(2)
    peaks = []
    for n in (64, 512):
        x = torch.randn(n, 1, 8, 8, generator=gen)
        with largest_tensor() as seen:
            minibatch_cka(tiny_cnn, x, ["conv1", "conv2", "fc"], batch=16)
        peaks.append(seen.bytes)
    assert peaks[0] == peaks[1] <= 16 * 6 * 64 * 4 * 3  # one batch: (16, 384) features, (3, 16, 16) Grams


def test_errors(tiny_cnn):
    x = torch.randn(20, 1, 8, 8)
    with pytest.raises(ValueError, match="minibatch must be"):
        minibatch_cka(tiny_cnn, x, ["fc"], batch=3)
    with pytest.raises(ValueError, match="NaN"):
        minibatch_cka(tiny_cnn, x * float("nan"), ["fc"], batch=10)
    with pytest.raises(ValueError, match="20 and 12"):
        minibatch_cka(tiny_cnn, x, ["fc"], x_b=x[:12], batch=10)
    with pytest.raises(KeyError, match="conv9"):
        minibatch_cka(tiny_cnn, x, ["conv9"], batch=10)


def test_cka_layers_and_job_keep_one_batch(tiny_cnn, largest_tensor, trained_session):
    from explorer.geometry import cka_job, cka_matrix, layer_grams

    x = torch.randn(1024, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with largest_tensor() as seen:
        got = cka_layers(tiny_cnn, x, ["conv1", "fc"], debiased=True, minibatch=16)
    assert seen.bytes <= 16 * 6 * 64 * 4 * 2  # the old path stacked (n / b, b, b) Grams per layer
    old = cka_matrix(layer_grams(tiny_cnn, x, ["conv1", "fc"], minibatch=16), debiased=True)
    np.testing.assert_allclose(got.values, old.values, atol=1e-6)
    s = trained_session
    small, big = (cka_job(s, ["conv1"], max_points=m, minibatch=32).estimate() for m in (100, 400))
    assert small.bytes == big.bytes < cka_job(s, ["conv1"], max_points=400).estimate().bytes
    job = cka_job(s, ["conv1", "conv2"], max_points=64, debiased=True, minibatch=32)
    x = s.data.sample("test", 64)[0]
    np.testing.assert_allclose(job.run().values, minibatch_cka(s.model, x, ["conv1", "conv2"], batch=32).values,
                               atol=1e-6)
