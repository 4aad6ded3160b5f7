"""RefineCAM against pytorch-grad-cam 1.5.7's within 1e-4 (resnet18, vgg11_bn and mobilenet_v3_small seeded,
BatchNorm calibrated, at 96 px; tests/conftest.py's tiny ViT at 32 px with the peer's reshape_transform; explicit
targets): the default layer alone and with one other layer."""
import numpy as np
import pytest
import torch

from explorer.saliency import METHODS, RefineCAM

pgc = pytest.importorskip("pytorch_grad_cam")
tv = pytest.importorskip("torchvision")
from pytorch_grad_cam.refine_cam import RefineCAM as PeerRefineCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SIZE = 96
VIT_LAST, VIT_FIRST = "encoder.layers.encoder_layer_1.ln_1", "encoder.layers.encoder_layer_0"  # default, another


@pytest.mark.parametrize("arch,layers,base", [
    ("resnet18", ["layer4"], "Grad-CAM++"), ("resnet18", ["layer2", "layer4"], "Grad-CAM++"),
    ("resnet18", ["layer2", "layer4"], "Grad-CAM"), ("vgg11_bn", ["features"], "Grad-CAM++"),
    ("vgg11_bn", ["features.13", "features"], "Grad-CAM++"),
    ("mobilenet_v3_small", ["features"], "Grad-CAM++"), ("mobilenet_v3_small", ["features.9", "features"], "Grad-CAM"),
    ("vit", [VIT_LAST], "Grad-CAM++"), ("vit", [VIT_FIRST, VIT_LAST], "Grad-CAM++")])
def test_parity(arch_case, unchanged, arch, layers, base):
    model, images, reshape = arch_case(arch, SIZE)
    with torch.no_grad():
        t = model(images).argmax(1)
    mods = [dict(model.named_modules())[n] for n in layers]
    peer_base = {"Grad-CAM++": pgc.GradCAMPlusPlus, "Grad-CAM": pgc.GradCAM}[base]
    peer = PeerRefineCAM(model, mods, reshape_transform=reshape, base_method=peer_base)
    try:
        want = peer(images, [ClassifierOutputTarget(int(c)) for c in t])
    finally:
        for cam in peer.base_cam_per_layer:
            cam.activations_and_grads.release()
    with unchanged(model):
        ours = RefineCAM(layers, base=base)(model, images, t)
    assert ours.shape == images[:, 0].shape and want.max() > 0
    np.testing.assert_allclose(ours.numpy(), want, atol=1e-4, rtol=0)
    if len(layers) == 1:  # the default layer, chosen by us: the same map
        torch.testing.assert_close(METHODS["RefineCAM"](base=base)(model, images, t), ours)


def test_bad_base(arch_case):
    model, images, _ = arch_case("resnet18", SIZE)
    with pytest.raises(ValueError, match="base 'Score-CAM'"):
        RefineCAM("layer4", base="Score-CAM")(model, images)
