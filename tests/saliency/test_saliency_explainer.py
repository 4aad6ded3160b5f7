"""Caching for live use (class switch without a forward) and the numpy overlay."""
import numpy as np
import pytest
import torch
from torch import nn

from explorer.saliency import COLORMAPS, EigenCAM, Explainer, GradCAM, InputGradient, SmoothGrad, colormap, overlay


class Counting(nn.Module):
    """Counts forward passes of the wrapped model."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("method", [GradCAM("net.conv2"), EigenCAM("net.conv2"), InputGradient()])
def test_class_switch_reuses_forward(tiny_cnn, unchanged, method):
    model = Counting(tiny_cnn)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ex = Explainer(model, method)
    with unchanged(tiny_cnn):
        maps = [ex(x, targets=c) for c in (0, 1, 2, 0)]
        assert model.calls == 1 and ex.forwards == 1
        assert torch.equal(maps[0], maps[3])
        for c in range(3):  # each equals a fresh one-shot call
            assert torch.allclose(maps[c], method(model, x, targets=c), atol=1e-6)
        ex(x.clone(), targets=1)  # same images (equal values): still cached
        assert ex.forwards == 1
        ex(x + 1, targets=1)  # new images: one new forward
        assert ex.forwards == 2
    ex.clear()


def test_methods_on_one_layer_share_the_kept_forward(tiny_cnn, unchanged):
    from explorer.saliency import METHODS, KeptForwards, NormGrad

    model = Counting(tiny_cnn)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    kept = KeptForwards(size=2)
    with unchanged(tiny_cnn):
        for name in ("Grad-CAM", "Grad-CAM++", "Eigen-CAM", "CF-CAM", "NormGrad"):
            method = METHODS[name]("net.conv2")
            got = Explainer(model, method, kept)(x, targets=1)
            assert torch.allclose(got, method(model, x, targets=1), atol=1e-6), name
        assert kept.runs == 1  # the one-shot calls above counted on model.calls, not here
        Explainer(model, NormGrad("net.conv2", form="conv"), kept)(x, 1)  # records the layer's input too
        Explainer(model, GradCAM("net.conv1"), kept)(x, 1)  # another layer
        Explainer(model, InputGradient(), kept)(x, 1)  # the input
        assert kept.runs == 4 and len(kept._kept) == 2  # bounded: the oldest graphs were freed
        kept.clear()


def test_weights_change_invalidates(tiny_cnn):
    model = Counting(tiny_cnn)
    x = torch.randn(2, 1, 8, 8)
    ex = Explainer(model, GradCAM("net.conv2"))
    a = ex(x, 0)
    with torch.no_grad():
        tiny_cnn.conv2.weight.mul_(-1)
    b = ex(x, 0)
    assert ex.forwards == 2 and not torch.allclose(a, b)


def test_noisy_methods_recompute(tiny_cnn):
    ex = Explainer(tiny_cnn, SmoothGrad(samples=2))
    x = torch.randn(2, 1, 8, 8)
    ex(x, 0)
    ex(x, 1)
    assert ex.forwards == 2


def test_colormaps():
    for name in COLORMAPS:
        lut = colormap(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert tuple(colormap("jet")[0]) == (0, 0, 128) and tuple(colormap("jet")[-1]) == (128, 0, 0)
    assert tuple(colormap("gray")[255]) == (255, 255, 255)
    with pytest.raises(KeyError, match="viridis"):
        colormap("parula")


def test_overlay_known_answer():
    img = np.full((2, 2), 100, np.uint8)
    cam = np.array([[0.0, 1.0], [1.0, 0.0]])
    out = overlay(img, cam, alpha=0.5, cmap="gray")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [50, 50, 50] and out[0, 1].tolist() == [178, 178, 178]  # 50 + 127.5, rounded
    assert np.array_equal(overlay(img, cam, alpha=0.0), np.full((2, 2, 3), 100, np.uint8))
    big = overlay(np.zeros((8, 8, 3), np.uint8), torch.rand(4, 4), 0.4, "viridis")  # map resized to the image
    assert big.shape == (8, 8, 3)
    with pytest.raises(ValueError, match="alpha"):
        overlay(img, cam, alpha=2)
    with pytest.raises(ValueError, match="uint8"):
        overlay(img.astype(float), cam)


def test_kept_graph_starts_at_the_layer(tiny_cnn):
    """The forward runs without autograd up to the layer: the kept graph holds only layer -> logits."""
    fw = GradCAM("conv1").forward(tiny_cnn, torch.randn(2, 1, 8, 8))
    a = fw.acts["conv1"]
    assert a.requires_grad and a.grad_fn is None  # a leaf: nothing before the layer is recorded
    assert not fw.x.requires_grad
    assert fw.logits.grad_fn is not None
