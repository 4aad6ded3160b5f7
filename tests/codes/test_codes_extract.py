"""Codes: known bits on hand-built networks, CNN and ResNet bit counts, in-place ReLU, errors, caching."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from explorer.codes import Codes, activation_codes, session_codes

X = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0]])
# worked by hand: pre1 = (x0, x1, x0 + x1 - 1); pre2 = (h0 - h1, h1 - h2 + 0.5) with h = relu(pre1)
#   (1, 2):    pre1 (1, 2, 2) -> 111, h (1, 2, 2), pre2 (-1, 0.5) -> 01
#   (-1, .5):  pre1 (-1, .5, -1.5) -> 010, h (0, .5, 0), pre2 (-.5, 1) -> 01
#   (0, 0):    pre1 (0, 0, -1) -> 000 (exact zero is off), h 0, pre2 (0, .5) -> 01
EXPECTED = np.array([[1, 1, 1, 0, 1], [0, 1, 0, 0, 1], [0, 0, 0, 0, 1]], dtype=np.uint8)


def hand_net(act=nn.ReLU, inplace=False):
    """Two hidden layers with weights set by hand."""
    kw = {"inplace": True} if inplace else {}
    net = nn.Sequential(OrderedDict([("fc1", nn.Linear(2, 3)), ("relu1", act(**kw)), ("fc2", nn.Linear(3, 2)),
                                     ("relu2", act(**kw)), ("out", nn.Linear(2, 2))]))
    with torch.no_grad():
        net.fc1.weight.copy_(torch.tensor([[1.0, 0], [0, 1], [1, 1]]))
        net.fc1.bias.copy_(torch.tensor([0.0, 0, -1]))
        net.fc2.weight.copy_(torch.tensor([[1.0, -1, 0], [0, 1, -1]]))
        net.fc2.bias.copy_(torch.tensor([0.0, 0.5]))
    return net


@pytest.mark.parametrize("inplace", [False, True])
def test_hand_built_codes(inplace, unchanged):
    net = hand_net(inplace=inplace).train()  # a model left in train mode is encoded in eval mode, then restored
    with unchanged(net):
        codes = activation_codes(net, X, batch_size=2)  # batches of 1 (it sizes the rest) and 2
    assert net.training
    np.testing.assert_array_equal(codes.bits(), EXPECTED)
    assert codes.n_bits == 5 and codes.parts == ("relu1", "relu2")
    np.testing.assert_array_equal(codes.boundaries, [0, 3, 5])
    np.testing.assert_array_equal(codes.layer("relu2").bits(), EXPECTED[:, 3:])
    np.testing.assert_array_equal(activation_codes(net, X, ["relu2"]).bits(), EXPECTED[:, 3:])
    np.testing.assert_array_equal(codes.packed, np.packbits(EXPECTED, axis=1))


def test_continuous_activations_are_post_relu():
    codes, acts = activation_codes(hand_net(inplace=True), X, with_activations=True)
    np.testing.assert_allclose(acts[0], [1, 2, 2, 0, 0.5])
    assert (acts > 0).astype(np.uint8).tolist() == codes.bits().tolist()


def test_non_relu_activation_uses_sign_of_preactivation():
    net = hand_net(act=nn.GELU)
    pre1 = X @ net.fc1.weight.T + net.fc1.bias
    pre2 = nn.functional.gelu(pre1) @ net.fc2.weight.T + net.fc2.bias
    expected = torch.cat([pre1 > 0, pre2 > 0], 1).numpy().astype(np.uint8)
    np.testing.assert_array_equal(activation_codes(net, X).bits(), expected)


def test_cnn_every_channel_and_position_is_a_bit(tiny_cnn, unchanged):
    x = torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with unchanged(tiny_cnn):
        codes = activation_codes(tiny_cnn, x, batch_size=3)
    assert codes.n_bits == 4 * 64 + 6 * 64 and codes.packed.shape == (7, (4 * 64 + 6 * 64) // 8)
    pre = tiny_cnn.conv2(torch.relu(tiny_cnn.conv1(x)))
    np.testing.assert_array_equal(codes.layer("relu2").bits(), (pre > 0).flatten(1).numpy())


def test_resnet18_counts_every_call_of_reused_relu(unchanged):
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.resnet18(num_classes=10).eval()  # random weights, no download
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with unchanged(net):
        codes = activation_codes(net, x)
    # stem 64x16x16 once; each of 8 blocks calls its relu twice: 64x8x8, 128x4x4, 256x2x2, 512x1x1 per call
    assert codes.n_bits == 64 * 256 + 4 * (64 * 64 + 128 * 16 + 256 * 4 + 512)
    assert len(codes.parts) == 17 and codes.parts[1:3] == ("layer1.0.relu:0", "layer1.0.relu:1")
    assert codes.layer("layer1.0.relu").n_bits == 2 * 64 * 64
    # independent check of both calls of layer1.0.relu
    with torch.no_grad():
        stem = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        b = net.layer1[0]
        first = b.bn1(b.conv1(stem))
        second = b.bn2(b.conv2(torch.relu(first))) + stem
    np.testing.assert_array_equal(codes.layer("layer1.0.relu:0").bits(), (first > 0).flatten(1).numpy())
    np.testing.assert_array_equal(codes.layer("layer1.0.relu:1").bits(), (second > 0).flatten(1).numpy())


def test_batches_are_sized_by_the_bytes_captured(largest_tensor):
    """A many-bit model is encoded a few inputs at a time (max_bytes of captured floats), bit for bit as one by one."""
    net = nn.Sequential(nn.Conv2d(1, 16, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3))
    torch.manual_seed(0)
    x = torch.randn(11, 1, 64, 64)  # 65,536 bits: 512 KiB of pre-activations and outputs per input
    seen = []
    hook = net.register_forward_pre_hook(lambda m, inp: seen.append(len(inp[0])))
    with largest_tensor() as big:
        codes = activation_codes(net, x, max_bytes=1 << 20)
    hook.remove()
    assert seen == [1, 2, 2, 2, 2, 2]  # the first input measures, then 1 MiB / 512 KiB = 2 per batch
    assert big.bytes <= 2 * 16 * 64 * 64 * 4  # the old code held all 11 inputs' floats at once (batch 256)
    one = activation_codes(net, x, batch_size=1)
    whole = activation_codes(net, x, batch_size=len(x), max_bytes=1 << 40)
    np.testing.assert_array_equal(codes.packed, one.packed)
    np.testing.assert_array_equal(codes.packed, whole.packed)
    assert codes.n_bits == 65_536 and codes.packed.shape == (11, 8192)


def test_errors():
    with pytest.raises(ValueError, match="no ReLU-like"):
        activation_codes(nn.Sequential(nn.Linear(2, 2)), X)
    with pytest.raises(KeyError, match="valid choices: relu1, relu2"):
        activation_codes(hand_net(), X, ["relu3"])
    with pytest.raises(KeyError, match="not a relu layer"):
        activation_codes(hand_net(), X, ["fc1"])
    with pytest.raises(KeyError, match="choose one of"):
        activation_codes(hand_net(), X).layer("nope")
    with pytest.raises(ValueError, match="no inputs"):
        activation_codes(hand_net(), X[:0])


def test_session_codes_are_memoised(digits):
    from explorer import Session

    s = Session.open(digits, "cnn", device="cpu")
    misses = s.misses
    a = session_codes(s, split="train")
    b = session_codes(s, None, "train")
    assert a is b and s.misses == misses + 1 and isinstance(a, Codes)
    assert len(a) == len(s.data.labels("train")) and a.parts == ("relu1", "relu2", "relu3")
    assert session_codes(s, ["relu3"], "train").n_bits == 64 * 4 * 4


def test_session_calls_leave_the_model_unchanged(digits, unchanged):
    from explorer import Session
    from explorer.codes import session_determinism, session_local_complexity, session_map

    s = Session.open(digits, "cnn", device="cpu")
    s.model.train()  # even a model left in training mode (BatchNorm/Dropout would differ) comes back as it was
    with unchanged(s.model):
        rows = session_determinism(s)
        session_map(s, ["relu3"], "train", "PCA", max_points=100)
        lc = session_local_complexity(s, split="test", n_vertices=4, max_points=20)
    assert [r["layer"] for r in rows][:4] == ["all layers", "relu1", "relu2", "relu3"]
    assert set(lc) == {"relu1", "relu2", "relu3", "total"} and len(lc["total"]) == 20


def test_codes_estimate_counts_the_batch_that_runs(digits, monkeypatch):
    """The estimate holds the batch activation_codes runs (256 inputs, fewer when MAX_BYTES of captured floats is
    reached) and the packed bits kept; it takes the bits from one input, not from the split."""
    from explorer import Session
    from explorer.codes import extract, lab
    from explorer.layers import relu_layers

    s = Session.open(digits, "cnn", device="cpu")
    layers, x = tuple(relu_layers(s.model)), s.data.inputs("test")
    bits = extract.activation_codes(s.model, x[:1], layers).n_bits
    kept = len(x) * -(-bits // 8)
    sizes = []
    with s.model.conv1.register_forward_pre_hook(lambda m, a: sizes.append(len(a[0]))):
        for max_bytes in (extract.MAX_BYTES, 3 * 8 * bits):
            monkeypatch.setattr(lab, "MAX_BYTES", max_bytes)
            sizes.clear()
            extract.activation_codes(s.model, x, layers, max_bytes=max_bytes)
            batch = max(sizes[1:])  # the first batch is one input: it measures what a batch captures
            assert batch == (256 if max_bytes == extract.MAX_BYTES else 3)
            assert lab.encoding(s, layers)[1:] == (bits, batch)
            assert lab.codes_estimate(s, layers).bytes == batch * 8 * bits + kept


def test_non_finite_values_checked_where_data_enters_not_per_block(tiny_cnn, monkeypatch):
    """Issue 27: torch.isfinite ran on every captured block of every batch (24 ms a call on a loaded machine); now
    once on the inputs and on each batch's small output, and the codes are the same."""
    x = torch.randn(13, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    want = activation_codes(tiny_cnn, x, batch_size=4)
    sizes, real = [], torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda t: sizes.append(t.numel()) or real(t))
    got = activation_codes(tiny_cnn, x, batch_size=4)
    np.testing.assert_array_equal(got.packed, want.packed)
    n_out = tiny_cnn(x[:1]).shape[1]
    assert sizes[0] == x.numel()  # the inputs, once
    assert all(s <= 4 * n_out for s in sizes[1:]), sizes  # then only each batch's output (N, classes)
    assert len(sizes) == 1 + 4
    bad = x.clone()
    bad[11, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite values in inputs"):
        activation_codes(tiny_cnn, bad, batch_size=4)
