"""Models people use by name: torchvision ViT and Swin at random init (offline), pretrained presets read from the
weights' metadata without a download, timm models when timm is installed."""
import pytest
import torch

from explorer.models import build_model, pretrained_preset, torchvision_model


def test_pretrained_presets_come_from_the_weights_metadata():
    pytest.importorskip("torchvision")
    for name, size, resize in (("resnet18", 224, 256), ("vit_b_16", 224, 256), ("swin_t", 224, 232)):
        p = pretrained_preset(name)
        assert (p["size"], p["resize"]) == (size, resize) and len(p["classes"]) == 1000
        assert p["classes"][0] == "tench" and p["mean"] == (0.485, 0.456, 0.406)
    with pytest.raises(KeyError, match="no weights"):
        pretrained_preset("resnet18", "IMAGENET9K")


@pytest.mark.slow
def test_random_vit_has_a_live_head(zoo):
    """torchvision zero-initialises ViT's head; ours draws it, so logits and gradients are not all zero."""
    vit = zoo("vit_b_16")
    assert vit.heads.head.weight.abs().amax() > 0
    with pytest.raises(ValueError, match="cannot be built for images of size 30"):
        torchvision_model("vit_b_16", image_size=30)  # not a multiple of the 16-pixel patches: refused at once


def test_timm_models_by_name():
    pytest.importorskip("timm")
    a = build_model("timm:deit_tiny_patch16_224", seed=1, pretrained=False)
    b = build_model("deit_tiny_patch16_224", seed=1)  # a name only timm has
    assert type(a).__name__ == "VisionTransformer" and a.num_classes == 10
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))  # seeded
    with pytest.raises(KeyError, match="unknown timm model"):
        build_model("timm:deit_tinyy_patch16_224")
