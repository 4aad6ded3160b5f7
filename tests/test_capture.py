"""capture(): recorded activations and pre-activations with known answers; nothing left on the model."""
from collections import OrderedDict

import pytest
import torch
from torch import nn

from explorer.capture import capture
from explorer.layers import find_layers, relu_layers, resolve


def hand_mlp() -> nn.Sequential:
    """2 -> 2 -> 1 network with hand-set weights: h = ReLU(W1 x + b1)."""
    m = nn.Sequential(OrderedDict([("fc1", nn.Linear(2, 2)), ("relu1", nn.ReLU()), ("out", nn.Linear(2, 1))]))
    with torch.no_grad():
        m.fc1.weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 0.5]]))
        m.fc1.bias.copy_(torch.tensor([0.0, -1.0]))
        m.out.weight.copy_(torch.tensor([[1.0, 1.0]]))
        m.out.bias.zero_()
    return m.eval()


def test_mlp_known_activations(unchanged):
    m = hand_mlp()
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    with unchanged(m), capture(m, ["fc1", "relu1"]) as rec:
        y = m(x)
    # by hand: W1 x + b1 = [[1-2, 2+1-1], [3, 6-1]] = [[-1, 2], [3, 5]]
    pre = torch.tensor([[-1.0, 2.0], [3.0, 5.0]])
    assert torch.equal(rec.pre("relu1"), pre)
    assert torch.equal(rec.output("fc1"), pre)
    assert torch.equal(rec["relu1"], pre.clamp(min=0))
    assert torch.equal(y, torch.tensor([[2.0], [8.0]]))
    assert rec.calls("relu1") == 1


def test_inplace_relu_keeps_the_preactivation(tiny_cnn, unchanged):
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with unchanged(tiny_cnn), capture(tiny_cnn, ["conv1", "relu1", "conv2", "relu2"]) as rec:
        tiny_cnn(x)
    conv1 = tiny_cnn.conv1(x)  # recomputed without hooks
    assert (conv1 < 0).any(), "the test needs negative pre-activations"
    assert torch.allclose(rec.pre("relu1"), conv1)
    assert torch.allclose(rec.output("conv1"), conv1), "in-place ReLU rewrote the recorded conv output"
    assert torch.allclose(rec["relu1"], conv1.clamp(min=0))
    assert torch.allclose(rec.pre("relu2"), tiny_cnn.conv2(conv1.clamp(min=0)))


def test_keep_graph_gives_gradients_at_the_layer(tiny_cnn, unchanged):
    """d(sum of class-0 scores)/d(conv2 output) equals fc.weight[0] / (h*w) where the ReLU is on."""
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with unchanged(tiny_cnn), capture(tiny_cnn, ["conv2"], keep_graph=True) as rec:
        score = tiny_cnn(x)[:, 0].sum()
        a = rec.output("conv2")
        (g,) = torch.autograd.grad(score, a)
    expected = tiny_cnn.fc.weight[0].detach().view(1, -1, 1, 1) / 64 * (a.detach() > 0)
    assert torch.allclose(g, expected, atol=1e-7)
    assert (a.detach() < 0).any(), "recorded conv2 output must be the pre-ReLU value"


def test_resnet_reused_relu_is_recorded_per_call(unchanged):
    tvm = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    net = tvm.resnet18(weights=None, num_classes=4).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with unchanged(net), capture(net, ["layer1.0.relu", "layer1.0.bn2", "relu"]) as rec:
        net(x)
    assert rec.calls("layer1.0.relu") == 2 and rec.calls("relu") == 1
    block = net.layer1[0]
    first_in = rec.preacts["layer1.0.relu"][0]
    # second call: bn2(conv2(relu(first))) + identity, where identity is the block's input
    block_input = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    assert torch.allclose(first_in, block.bn1(block.conv1(block_input)), atol=1e-5)
    second = block.bn2(block.conv2(first_in.clamp(min=0))) + block_input
    assert torch.allclose(rec.preacts["layer1.0.relu"][1], second, atol=1e-5)
    assert torch.allclose(rec.output("layer1.0.bn2"), second - block_input, atol=1e-5)


def test_hooks_removed_after_an_error(tiny_cnn, unchanged):
    with unchanged(tiny_cnn), pytest.raises(RuntimeError):
        with capture(tiny_cnn, ["conv1", "relu2"]):
            tiny_cnn(torch.zeros(1, 2, 8, 8))  # wrong channel count


def test_training_mode_is_left_alone(tiny_cnn):
    tiny_cnn.train()
    with capture(tiny_cnn, ["relu1"]):
        tiny_cnn(torch.zeros(1, 1, 8, 8))
    assert all(m.training for m in tiny_cnn.modules())


def test_layer_discovery(tiny_cnn):
    assert find_layers(tiny_cnn, "conv") == ["conv1", "conv2"]
    assert relu_layers(tiny_cnn) == ["relu1", "relu2"]
    assert find_layers(tiny_cnn, "linear") == ["fc"]
    assert "gap" in find_layers(tiny_cnn)
    gelu = nn.Sequential(nn.Linear(2, 2), nn.GELU(), nn.Linear(2, 2), nn.LeakyReLU())
    assert relu_layers(gelu) == ["1", "3"]


def test_named_relu_layers_once_each_in_the_models_order(tiny_cnn):
    import sys

    import explorer

    module = sys.modules["explorer.capture"]  # explorer.capture is also the function
    assert relu_layers(tiny_cnn, ["relu2", "relu1", "relu2"]) == ["relu1", "relu2"]
    assert relu_layers(tiny_cnn, "relu2") == ["relu2"]
    with pytest.raises(KeyError, match="'conv1' is a Conv2d, not a relu layer"):
        relu_layers(tiny_cnn, ["relu1", "conv1"])
    with pytest.raises(ValueError, match="no layers given"):
        relu_layers(tiny_cnn, [])
    # the names users import from explorer and explorer.capture are the same functions
    assert module.find_layers is explorer.find_layers is find_layers
    assert module.resolve is resolve and module.relu_layers is explorer.relu_layers is relu_layers


def test_errors_name_the_valid_choices(tiny_cnn):
    with pytest.raises(KeyError, match="did you mean 'conv1'.*valid choices: conv1, conv2"):
        resolve(tiny_cnn, ["conv11"], kind="conv")
    with pytest.raises(KeyError, match="'fc' is a Linear, not a conv layer"):
        resolve(tiny_cnn, "fc", kind="conv")
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        with capture(tiny_cnn, ["nope"]):
            pass
    functional = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="no ReLU-like module.*F.relu"):
        relu_layers(functional)
    with pytest.raises(ValueError, match="unknown layer kind"):
        find_layers(tiny_cnn, "attention")


def test_stop_after_skips_the_layers_above(tiny_cnn, unchanged):
    from explorer.capture import stop_after

    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    ran = []
    h = tiny_cnn.fc.register_forward_hook(lambda *a: ran.append(1))
    try:
        with unchanged(tiny_cnn), torch.no_grad(), capture(tiny_cnn, ["conv2"]) as rec, stop_after(tiny_cnn, "conv2"):
            tiny_cnn(x)
            raise AssertionError("the forward should have ended at conv2")
        with torch.no_grad():
            assert torch.equal(rec.output("conv2"), tiny_cnn[:3](x)) and not ran  # recorded first, fc never ran
        with pytest.raises(ValueError, match="boom"), unchanged(tiny_cnn), stop_after(tiny_cnn, "conv2"):
            raise ValueError("boom")  # other errors pass through, hooks removed
    finally:
        h.remove()


def test_stop_after_the_last_call_of_a_reused_layer(unchanged):
    from explorer.capture import stop_after

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.head = nn.Linear(3, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.head(self.f(torch.relu(self.f(x))))

    torch.manual_seed(0)
    m, x = Twice().eval(), torch.randn(4, 3)
    with unchanged(m), torch.no_grad(), capture(m, ["f"]) as rec, stop_after(m, "f", calls=2):
        m(x)
    with torch.no_grad():
        assert rec.calls("f") == 2 and torch.equal(rec.output("f"), m.f(torch.relu(m.f(x))))
