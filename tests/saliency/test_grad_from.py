"""grad_from (the graph from the first chosen layer up): a chosen layer reached only by a path from before the switch
(an nn.Identity shortcut, frozen weights on a resnet's downsample branch) gets its gradient too; known answers on a
hand-built model, and frozen resnet18 equal to the same model with its weights' grad on."""
import copy

import pytest
import torch
from torch import nn

from explorer.capture import capture
from explorer.saliency import GradCAM
from explorer.saliency.methods.util import grad_from


class Shortcut(nn.Module):
    """logits = [m, -m], m the mean over the 2 x 2 positions of conv(x) + shortcut(x), conv a 1 x 1 weight of 2 and
    shortcut an nn.Identity: d logit_0 / d conv(x) = d logit_0 / d shortcut(x) = 1/4 at every position."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        self.shortcut = nn.Identity()
        self.fc = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(2.0)
            self.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))

    def forward(self, x):
        return self.fc((self.conv(x) + self.shortcut(x)).mean((2, 3)))


X = torch.tensor([[[[1.0, 2.0], [3.0, -4.0]]]])


@pytest.mark.parametrize("frozen", [False, True])
def test_an_identity_shortcut_after_the_switch_has_its_gradient(unchanged, frozen):
    model = Shortcut().eval().requires_grad_(not frozen)
    mods = {"conv": model.conv, "shortcut": model.shortcut}  # conv runs first: the shortcut's output had no graph
    with unchanged(model), grad_from(mods), capture(model, list(mods), keep_graph=True) as rec:
        logits = model(X)
        grads = torch.autograd.grad(logits[:, 0].sum(), [rec.output(n) for n in mods])
    for g in grads:
        torch.testing.assert_close(g, torch.full((1, 1, 2, 2), 0.25), rtol=0, atol=0)
    # Grad-CAM of each layer: relu(1/4 * activation), 2x and x; two layers: their mean (was a RuntimeError)
    one = GradCAM(["shortcut"])(model, X, 0, raw=True)
    torch.testing.assert_close(one, torch.tensor([[[0.25, 0.5], [0.75, 0.0]]]), rtol=0, atol=1e-7)
    both = GradCAM(["conv", "shortcut"])(model, X, 0, raw=True)
    torch.testing.assert_close(both, torch.tensor([[[0.375, 0.75], [1.125, 0.0]]]), rtol=0, atol=1e-7)


def test_frozen_resnet18_downsample_branch(calibrated, unchanged):
    """torchvision's BasicBlock runs its downsample after conv1..bn2: with the weights frozen (a feature extractor)
    the downsample's output had no graph; the maps equal those of the same weights with grad on."""
    net = calibrated("resnet18")  # shared and read-only: the frozen one is a copy
    frozen = copy.deepcopy(net).requires_grad_(False)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    layers = ["layer4.0.conv1", "layer4.0.downsample"]
    with unchanged(frozen):
        got = GradCAM(layers)(frozen, x, [1, 2])
    want = GradCAM(layers)(net, x, [1, 2])
    assert got.shape == (2, 64, 64) and want.amax() > 0
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
