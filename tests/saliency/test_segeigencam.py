"""Seg-Eigen-CAM on classifiers against pytorch-grad-cam 1.5.7's within 1e-4 (resnet18, vgg11_bn and
mobilenet_v3_small seeded, BatchNorm calibrated, at 96 px; tests/conftest.py's tiny ViT at 32 px with the peer's
reshape_transform; explicit targets), at our default layer and one other. Segmentation targets: test_targets.py."""
import numpy as np
import pytest
import torch

from explorer.saliency import SegEigenCAM

pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SIZE = 96
# arch -> (our default layer, another user-pickable one)
LAYERS = {"resnet18": ("layer4", "layer3"), "vgg11_bn": ("features", "features.20"),
          "mobilenet_v3_small": ("features", "features.9"),
          "vit": ("encoder.layers.encoder_layer_1.ln_1", "encoder.layers.encoder_layer_0")}


@pytest.mark.parametrize("arch", list(LAYERS))
def test_parity(arch_case, unchanged, arch):
    model, images, reshape = arch_case(arch, SIZE)
    with torch.no_grad():
        t = model(images).argmax(1)
    default, other = LAYERS[arch]
    assert SegEigenCAM().layer_names(model, images) == [default]
    with unchanged(model):  # one fingerprint for both layers: vgg11_bn's is 0.5 GB
        got = {default: SegEigenCAM()(model, images, t), other: SegEigenCAM(other)(model, images, t)}
    for layer, ours in got.items():
        with pgc.SegEigenCAM(model, [model.get_submodule(layer)], reshape_transform=reshape) as peer:
            want = peer(images, [ClassifierOutputTarget(int(c)) for c in t])
        model.zero_grad(set_to_none=True)  # the peer fills .grad
        assert ours.shape == images[:, 0].shape and want.max() > 0
        np.testing.assert_allclose(ours.numpy(), want, atol=1e-4, rtol=0, err_msg=f"{arch} at {layer}")
