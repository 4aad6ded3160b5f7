"""Results that say what they are: HiResCAM where its channel sum is float rounding (a ViT block reaching the logits
only through LayerNorm) is blank with a note, ordinary maps carry none; DeepLIFT is complete on squeeze-excitation
models (the product rule) and notes its summation-to-delta gap with every result."""
import warnings
from collections import OrderedDict

import pytest
import torch
from torch import nn

from explorer.saliency import DeepLIFT, GradCAMElementWise, HiResCAM
from explorer.saliency.methods.util import SaliencyNote

from .conftest import smooth_images

torchvision = pytest.importorskip("torchvision")


def small_vit(dtype=torch.float32):
    """torchvision's VisionTransformer at 32 px, patch 8, three blocks (seeded; its zero head drawn at random)."""
    from torchvision.models.vision_transformer import VisionTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vit = VisionTransformer(image_size=32, patch_size=8, num_layers=3, num_heads=2, hidden_dim=64, mlp_dim=128,
                                num_classes=3)
        nn.init.normal_(vit.heads.head.weight)
    return vit.to(dtype).eval()


def test_hirescam_at_a_vit_block_before_the_last_is_blank_and_says_why(unchanged):
    """encoder_layer_1's tokens reach the logits only through encoder_layer_2's ln_1 (scale-invariant per token), so
    sum_c g_c A_c = 0 at every location: the peer (and the old code) drew the float32 rounding, normalised."""
    vit, layer = small_vit(), "encoder.layers.encoder_layer_1"
    x = nn.functional.interpolate(smooth_images(2, seed=7), size=32)
    method = HiResCAM(layer)
    with unchanged(vit), pytest.warns(SaliencyNote, match="HiResCAM: at encoder.layers.encoder_layer_1, the sum over "
                                                          "64 channels cancels to float rounding for image.s. 0, 1"):
        maps, raw = method(vit, x, [0, 1]), method(vit, x, [0, 1], raw=True)
    assert torch.equal(maps, torch.zeros_like(maps)) and torch.equal(raw, torch.zeros_like(raw))
    assert len(method.notes_) == 1 and "left blank" in method.notes_[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaliencyNote)  # a block whose tokens feed attention: a real map, no note
        real = HiResCAM("encoder.layers.encoder_layer_0")
        assert real(vit, x, [0, 1], raw=True).amax(dim=(1, 2)).min() > 0 and real.notes_ == []
        # element-wise Grad-CAM keeps each channel's positive part: no cancellation, the same map in float64
        ew = GradCAMElementWise(layer)
        ew32, ew64 = ew(vit, x, [0, 1], raw=True), ew(small_vit(torch.float64), x.double(), [0, 1], raw=True)
        torch.testing.assert_close(ew32.double(), ew64, rtol=1e-4, atol=1e-6 * ew64.abs().max().item())


@pytest.mark.parametrize("name", ["tiny", "mobilenet_v3_small"])
def test_hirescam_on_cnns_has_no_note(zoo, tiny_cnn, name, unchanged):
    model = tiny_cnn if name == "tiny" else zoo(name)
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) if name == "tiny" else smooth_images(2, 7)
    method = HiResCAM()
    with unchanged(model), warnings.catch_warnings():
        warnings.simplefilter("error", SaliencyNote)
        maps = method(model, x, [0, 1], raw=True)
    assert method.notes_ == [] and maps.amax(dim=(1, 2)).min() > 0


def gate(a_to_b: bool = True) -> nn.Module:
    """Two scalar inputs (a, b) as a 2-channel 1 x 1 image; torchvision's SqueezeExcitation with identity activations
    whose fc1 reads b and fc2 puts it on channel a: logits (a * b, 0)."""
    from torchvision.ops import SqueezeExcitation

    se = SqueezeExcitation(2, 1, activation=nn.Identity, scale_activation=nn.Identity)
    with torch.no_grad():
        se.fc1.weight.copy_(torch.tensor([0.0, 1.0]).view(1, 2, 1, 1))
        se.fc2.weight.copy_(torch.tensor([1.0, 0.0]).view(2, 1, 1, 1))
        se.fc1.bias.zero_()
        se.fc2.bias.zero_()
    return nn.Sequential(OrderedDict(se=se, flat=nn.Flatten())).eval()


def test_deeplift_product_rule_known_answer(unchanged):
    """z = a * b at (a, b) = (3, 2) from the baseline (1, 1): the product rule gives a (a - a')(b + b') / 2 = 3 and b
    (b - b')(a + a') / 2 = 2, summing to 6 - 1 = 5. The plain gradient gave (a - a') b = 4 and (b - b') a = 3."""
    net, x = gate(), torch.tensor([3.0, 2.0]).view(1, 2, 1, 1)
    method = DeepLIFT(baseline=1.0)
    with unchanged(net):
        attr = method.attributions(net, x, [0])
    torch.testing.assert_close(attr.flatten(), torch.tensor([3.0, 2.0]))
    assert method.gap_.item() < 1e-6 and "(complete)" in method.notes_[0]


def test_deeplift_is_complete_on_mobilenet_v3_small_and_says_so(zoo, unchanged):
    """The squeeze-excitation gate had no rule: sum(attr) missed S(x) - S(0) by 7% and 14% (seeded images)."""
    model, x = zoo("mobilenet_v3_small"), smooth_images(2, seed=7)
    method = DeepLIFT()
    with unchanged(model), warnings.catch_warnings():
        warnings.simplefilter("error", SaliencyNote)  # complete: nothing to warn
        attr = method.attributions(model, x, [0, 1])
        delta = method.delta(model, x, [0, 1])
    with torch.no_grad():
        s = model(torch.cat([x, torch.zeros_like(x)])).gather(1, torch.tensor([[0], [1], [0], [1]]))[:, 0]
    change = s[:2] - s[2:]
    torch.testing.assert_close(attr.flatten(1).sum(1), change, rtol=5e-5, atol=0)
    assert (delta.abs() / change.abs()).max() < 5e-5
    assert method.gap_.shape == (2,) and method.gap_.max() < 5e-5  # measured 4e-7 and 8e-6
    assert len(method.notes_) == 1 and "summation to delta" in method.notes_[0] and "(complete)" in method.notes_[0]


def test_deeplift_warns_with_its_gap_when_a_product_has_no_rule(unchanged):
    """A product written as a function (no rule): the gap is reported, and warned."""
    class Functional(nn.Module):
        def forward(self, x):  # (N, 2, 1, 1) -> (N, 2): (a * b, 0)
            return torch.cat([x[:, :1] * x[:, 1:], torch.zeros_like(x[:, :1])], 1).flatten(1)

    net, method = Functional(), DeepLIFT(baseline=1.0)
    with unchanged(net), pytest.warns(SaliencyNote, match=r"relative gap of 4\.0e-01: not complete"):
        method.attributions(net, torch.tensor([3.0, 2.0]).view(1, 2, 1, 1), [0])  # 7 against 5
    assert abs(method.gap_.item() - 0.4) < 1e-6
