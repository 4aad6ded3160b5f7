"""Grad-CAM on the models people use (torchvision at 224 x 224, random seeded weights, BatchNorm calibrated): our
default layer is the block output, and the maps equal pytorch-grad-cam's there, on unscaled logits, within 1e-4;
transformers through the token-to-grid reshape equal pytorch-grad-cam with its reshape_transform."""
import pytest
import torch

from explorer.saliency import GradCAM
from explorer.saliency.methods.layers import default_cam_layer, spatial_layers

from .conftest import smooth_images

ATOL = 1e-4
TARGETS = [3, 7]  # explicit, one per image, not the predicted classes


def peer_gradcam(model, module, x, targets, reshape=None):
    """pytorch-grad-cam's Grad-CAM at `module` (ClassifierOutputTarget: the unscaled logit); .grad cleared after."""
    pgc = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    try:
        with pgc.GradCAM(model=model, target_layers=[module], reshape_transform=reshape) as cam:
            return torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets]))
    finally:
        model.zero_grad(set_to_none=True)  # the peer's backward fills .grad on the shared model


@pytest.fixture(scope="module")
def images():
    return smooth_images(2, seed=1)


# default layer; the module peers and users explain (pytorch-grad-cam's README: layer4[-1], features[-1]), which
# outputs the same tensor (VGG: the features before the adaptive pool, at every image size)
CNNS = {"resnet18": ("layer4", "layer4.1"), "vgg11_bn": ("features", "features.28"),
        "mobilenet_v3_small": ("features", "features.12")}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CNNS))
def test_cnn_default_layer_is_the_block_output_and_matches_the_peer(zoo, images, unchanged, name):
    model, (default, block) = zoo(name), CNNS[name]
    method = GradCAM()
    with unchanged(model):
        ours = method(model, images, targets=TARGETS)
        assert method.layer_names(model, images) == [default]  # found by the call above (remembered)
    assert ours.shape == (2, 224, 224) and ours.amax() > 0
    want = peer_gradcam(model, model.get_submodule(block), images, TARGETS)
    assert torch.allclose(ours, want, atol=ATOL), (ours - want).abs().max()


def test_default_layer_is_before_an_adaptive_pool(unchanged):
    """A VGG-like net (features, adaptive pool to 3 x 3, Linear): the default is the features' output both where the
    pool is the identity (12 px: 3 x 3 maps) and where it resamples (16 px: 4 x 4 to 3 x 3); it was the pool."""
    from collections import OrderedDict

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                       torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
        net = torch.nn.Sequential(OrderedDict(features=features, avgpool=torch.nn.AdaptiveAvgPool2d(3),
                                              flatten=torch.nn.Flatten(), fc=torch.nn.Linear(36, 5))).eval()
    with unchanged(net):
        for size in (12, 16):
            x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
            assert default_cam_layer(net, x) == "features", size
            assert torch.equal(GradCAM()(net, x, [0, 1]), GradCAM("features.5")(net, x, [0, 1]))
        assert (GradCAM()(net, x, [0, 1]) - GradCAM("avgpool")(net, x, [0, 1])).abs().max() > 0.1


@pytest.mark.slow
@pytest.mark.parametrize("size", [224, 256])
def test_vgg_default_layer_is_before_the_adaptive_pool_at_every_size(zoo, unchanged, size):
    """VGG's avgpool (adaptive, to 7 x 7) is the identity at 224 px and resamples 8 x 8 at 256: the default is the
    block output before it at both sizes, the map pytorch-grad-cam's users get at features[-1]."""
    model, x = zoo("vgg11_bn"), smooth_images(1, seed=3, size=size)
    method = GradCAM()
    with unchanged(model):
        ours = method(model, x, targets=TARGETS[:1])
        assert method.layer_names(model, x) == ["features"]
        pooled = GradCAM("avgpool")(model, x, targets=TARGETS[:1])
    want = peer_gradcam(model, model.features[-1], x, TARGETS[:1])
    assert ours.amax() > 0 and (ours - want).abs().max() < ATOL
    assert (ours - pooled).abs().max() < ATOL if size == 224 else (ours - pooled).abs().max() > 0.1


def test_vit_with_a_zero_head_says_its_logits_are_constant(unchanged):
    """torchvision initialises a ViT's head to zeros: the logits do not change with the image, and the error says so
    (it said "no layer with a spatial output on the path to the logits")."""
    from torchvision.models.vision_transformer import VisionTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vit = VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                                num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with unchanged(vit):
        with pytest.raises(ValueError, match="logits of VisionTransformer are constant"):
            GradCAM()(vit, x, targets=[0, 1])
        with torch.no_grad():
            torch.nn.init.normal_(vit.heads.head.weight, generator=torch.Generator().manual_seed(1))
        assert default_cam_layer(vit, x) == "encoder.layers.encoder_layer_0.ln_1"
        torch.nn.init.zeros_(vit.heads.head.weight)


def test_spatial_layers_list_block_outputs_and_refuse_1x1(zoo, unchanged):
    model = zoo("mobilenet_v3_small")
    x = smooth_images(1, seed=2)
    with unchanged(model):
        assert default_cam_layer(model, x) == "features"  # not features.12.0, the bare conv before BN
        layers = spatial_layers(model, x)
        assert {"features", "features.12", "features.12.0", "features.12.2"} <= set(layers)
        assert "avgpool" not in layers and "avgpool" in spatial_layers(model, x, include_1x1=True)
        assert layers == [n for n, _ in model.named_modules() if n in layers]  # model order
        with pytest.raises(ValueError, match=r"1 x 1 map.*features\.12"):
            GradCAM("avgpool")(model, x, targets=[1])
        with pytest.raises(KeyError, match=r"not a spatial map.*valid choices: .*features"):
            GradCAM("classifier.0")(model, x, targets=[1])


def vit_tokens(t, h=14, w=14, prefix=1):
    """pytorch-grad-cam's ViT reshape_transform (its docs), prefix tokens dropped."""
    return t[:, prefix:, :].reshape(t.size(0), h, w, t.size(2)).permute(0, 3, 1, 2)


@pytest.mark.slow
def test_vit_default_layer_and_parity(zoo, images, unchanged):
    model, x = zoo("vit_b_16"), images[:1]  # vit_b_16 is slow on the CPU: one image
    layer = "encoder.layers.encoder_layer_11.ln_1"  # pytorch-grad-cam's docs: blocks[-1].norm1
    method = GradCAM()
    with unchanged(model):
        ours = method(model, x, targets=TARGETS[:1])
        # later outputs (the block, encoder.ln) reach the logits through the class token only: their grid has no
        # gradient, so the last map that matters is the last block's first LayerNorm
        assert method.layer_names(model, x) == [layer]
    want = peer_gradcam(model, model.get_submodule(layer), x, TARGETS[:1], reshape=vit_tokens)
    assert ours.amax() > 0 and torch.allclose(ours, want, atol=ATOL), (ours - want).abs().max()


@pytest.mark.slow
def test_swin_channels_last_maps_match_the_peer(zoo, images, unchanged):
    model = zoo("swin_t")
    method = GradCAM()
    with unchanged(model):
        ours = {"permute": method(model, images, targets=TARGETS), "norm": GradCAM("norm")(model, images, TARGETS)}
        assert method.layer_names(model, images) == ["permute"]  # norm's (N, 7, 7, C) as (N, C, 7, 7)
    nhwc = lambda t: t.permute(0, 3, 1, 2)
    for layer, reshape in (("norm", nhwc), ("permute", None)):
        want = peer_gradcam(model, model.get_submodule(layer), images, TARGETS, reshape=reshape)
        assert ours[layer].amax() > 0 and torch.allclose(ours[layer], want, atol=ATOL), layer
    assert torch.allclose(ours["norm"], ours["permute"], atol=1e-6)


@pytest.mark.parametrize("name,prefix", [("deit_tiny_distilled_patch16_224", 2)])  # vit_tiny: prefix 1, as above
def test_timm_vits(images, unchanged, name, prefix):
    timm = pytest.importorskip("timm")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, num_classes=10).eval()
    method = GradCAM()
    with unchanged(model):
        ours = method(model, images, targets=TARGETS)
        assert method.layer_names(model, images) == ["blocks.11.norm1"]  # not attn.qkv, computed after it
    reshape = lambda t: vit_tokens(t, prefix=prefix)  # deit: class and distillation tokens
    want = peer_gradcam(model, model.blocks[-1].norm1, images, TARGETS, reshape=reshape)
    assert ours.amax() > 0 and torch.allclose(ours, want, atol=ATOL), (ours - want).abs().max()
