"""RefineCAM against pytorch-grad-cam 1.5.7's within 1e-4 (resnet18 and vgg11_bn, seeded, BatchNorm calibrated,
explicit targets): the default layer alone and with one other layer."""
import numpy as np
import pytest
import torch

from explorer.saliency import METHODS, RefineCAM

pgc = pytest.importorskip("pytorch_grad_cam")
tv = pytest.importorskip("torchvision")
from pytorch_grad_cam.refine_cam import RefineCAM as PeerRefineCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SIZE = 96



@pytest.fixture(scope="module")
def models(calibrated):
    return {"resnet18": calibrated("resnet18", size=SIZE), "vgg11_bn": calibrated("vgg11_bn", size=SIZE)}


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("arch,layers,base", [
    ("resnet18", ["layer4"], "Grad-CAM++"), ("resnet18", ["layer2", "layer4"], "Grad-CAM++"),
    ("resnet18", ["layer2", "layer4"], "Grad-CAM"), ("vgg11_bn", ["features"], "Grad-CAM++"),
    ("vgg11_bn", ["features.13", "features"], "Grad-CAM++")])
def test_parity(models, images, unchanged, arch, layers, base):
    model = models[arch]
    with torch.no_grad():
        t = model(images).argmax(1)
    mods = [dict(model.named_modules())[n] for n in layers]
    peer_base = {"Grad-CAM++": pgc.GradCAMPlusPlus, "Grad-CAM": pgc.GradCAM}[base]
    peer = PeerRefineCAM(model, mods, base_method=peer_base)
    try:
        want = peer(images, [ClassifierOutputTarget(int(c)) for c in t])
    finally:
        for cam in peer.base_cam_per_layer:
            cam.activations_and_grads.release()
    with unchanged(model):
        ours = RefineCAM(layers, base=base)(model, images, t)
    assert ours.shape == (2, SIZE, SIZE)
    np.testing.assert_allclose(ours.numpy(), want, atol=1e-4, rtol=0)
    if len(layers) == 1:  # the default layer, chosen by us: the same map
        torch.testing.assert_close(METHODS["RefineCAM"](base=base)(model, images, t), ours)


def test_bad_base(models, images):
    with pytest.raises(ValueError, match="base 'Score-CAM'"):
        RefineCAM("layer4", base="Score-CAM")(models["resnet18"], images)
