"""SESS against pytorch-grad-cam 1.5.7's within 1e-4 (resnet18, vgg11_bn and mobilenet_v3_small seeded, BatchNorm
calibrated, at 64 px; tests/conftest.py's tiny ViT at 32 px with the peer's reshape_transform; explicit targets,
3 scales): the default layer and one other; mean and max fusion, pre-filter and theta."""
import numpy as np
import pytest
import torch

from explorer.saliency import SESS
from explorer.saliency.methods.sess import gaussian_blur, window_starts

pgc = pytest.importorskip("pytorch_grad_cam")
tv = pytest.importorskip("torchvision")
cv2 = pytest.importorskip("cv2")
from pytorch_grad_cam.sess import SESS as PeerSESS  # noqa: E402
from pytorch_grad_cam.sess import window_starts as peer_starts  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SIZE = 64
DEFAULT = {"mobilenet_v3_small": "features", "vit": "encoder.layers.encoder_layer_1.ln_1"}  # our default layers


@pytest.mark.parametrize("arch,layer,kw", [
    ("resnet18", "layer4", {}), ("resnet18", "layer3", {"pool": "max", "step": 40}),
    ("vgg11_bn", "features", {"pre_filter": 0.3, "theta": 0.2}), ("vgg11_bn", "features.20", {}),
    ("mobilenet_v3_small", None, {}), ("mobilenet_v3_small", "features.9", {"pool": "max", "step": 40}),
    ("vit", None, {"theta": 0.2}), ("vit", "encoder.layers.encoder_layer_0", {"pool": "max", "step": 20})])
def test_parity(arch_case, unchanged, arch, layer, kw):
    """layer None: our default layer (DEFAULT), given to the peer by name. The ViT takes only its own 32 px: every
    window is 32 px, at each scale."""
    model, images, reshape = arch_case(arch, SIZE)
    with torch.no_grad():
        t = model(images).argmax(1)
    peer_layer = layer or DEFAULT[arch]
    assert SESS(layer).layer_names(model, images) == [peer_layer]
    peer_kw = {"pool": kw.get("pool", "mean"), "step_size": kw.get("step"), "pre_filter_ratio": kw.get("pre_filter", 0),
               "theta": kw.get("theta", 0.0)}
    with PeerSESS(model, [dict(model.named_modules())[peer_layer]], reshape_transform=reshape, num_scales=3,
                  **peer_kw) as peer:
        want = peer(images, [ClassifierOutputTarget(int(c)) for c in t])
    model.zero_grad(set_to_none=True)  # the peer fills .grad
    with unchanged(model):
        ours = SESS(layer, num_scales=3, **kw)(model, images, t)
    assert ours.shape == images[:, 0].shape and want.max() > 0
    np.testing.assert_allclose(ours.numpy(), want, atol=1e-4, rtol=0)


def test_parts():
    for n, s, w in [(64, 64, 64), (100, 64, 64), (262, 40, 64), (5, 2, 8)]:
        assert window_starts(n, s, w) == peer_starts(n, s, w)
    m = torch.rand(30, 20, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(gaussian_blur(m).numpy(), cv2.GaussianBlur(m.numpy(), (11, 11), 5.0, 0), atol=1e-6)


def test_errors(arch_case):
    model, images, _ = arch_case("resnet18", SIZE)
    with pytest.raises(ValueError, match="pool 'min'"):
        SESS("layer4", pool="min")(model, images)
