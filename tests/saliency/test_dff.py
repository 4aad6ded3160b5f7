"""Deep Feature Factorization against pytorch-grad-cam 1.5.7's within 1e-4: concepts, maps, the head's scores and
the concept image (resnet18 and vgg11_bn seeded, BatchNorm calibrated, two layers)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explorer.saliency.dff import deep_feature_factorization, dff_job, factorization_image, rainbow

pgc = pytest.importorskip("pytorch_grad_cam")
tv = pytest.importorskip("torchvision")
from pytorch_grad_cam import DeepFeatureFactorization  # noqa: E402
from pytorch_grad_cam.utils.image import show_factorization_on_image  # noqa: E402

SIZE = 96


CASES = [("resnet18", "layer4", "fc"), ("resnet18", "layer3.1", None), ("vgg11_bn", "features", None),
         ("vgg11_bn", "features.21", None)]


@pytest.mark.parametrize("arch,layer,head", CASES)
def test_parity(arch_case, unchanged, arch, layer, head):
    model, images, _ = arch_case(arch, SIZE)
    mod = dict(model.named_modules())[layer]
    on = dict(model.named_modules())[head] if head else None
    peer = DeepFeatureFactorization(model, mod, computation_on_concepts=on)  # no `with`: it has no __enter__
    try:
        got = peer(images, n_components=4)
    finally:
        peer.activations_and_grads.release()
    with unchanged(model):
        ours = deep_feature_factorization(model, images, layer, components=4, head=head, top_k=3)
    np.testing.assert_allclose(ours.concepts, got[0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ours.maps, np.stack(got[1]), atol=1e-4, rtol=0)
    assert ours.maps.shape == (2, 4, SIZE, SIZE)
    if head:
        scores = torch.softmax(torch.from_numpy(got[2]), -1).numpy()  # as the peer's run_dff_on_image
        np.testing.assert_allclose(ours.scores, scores, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(ours.top, np.argsort(scores, 1)[:, ::-1][:, :3])
    else:
        assert ours.scores is None and ours.top is None


def test_auto_head_and_image(arch_case):
    model, images, _ = arch_case("resnet18", SIZE)
    r = deep_feature_factorization(model, images[:1], "layer4", components=3)  # 'auto': fc takes 512 features
    assert r.scores.shape == (3, 1000) and r.top.shape == (3, 2)
    np.testing.assert_allclose(r.scores.sum(1), 1, atol=1e-5)
    img = np.random.default_rng(0).random((SIZE, SIZE, 3))
    maps = r.maps[0].copy()
    ours = factorization_image(img, maps, image_weight=0.3)
    import matplotlib

    # colors=None crashes in the peer on matplotlib >= 3.9 (plt.cm.get_cmap is gone): its own choice, passed in
    colors = [np.array(matplotlib.colormaps["gist_rainbow"](i)) for i in np.arange(0, 1, 1 / 3)]
    np.testing.assert_allclose(rainbow(3), np.array(colors)[:, :3], atol=1e-12)
    peer = show_factorization_on_image(img, r.maps[0].copy(), colors, image_weight=0.3)  # it zeroes its argument
    np.testing.assert_array_equal(maps, r.maps[0])  # ours does not
    # the peer's cv2 HSV round trip rounds S and H to 8 bits: at most 2 levels in 255 apart
    assert np.abs(ours.astype(int) - peer.astype(int)).max() <= 2
    np.testing.assert_allclose(rainbow(5), [matplotlib.colormaps["gist_rainbow"](i)[:3] for i in np.arange(0, 1, .2)],
                               atol=1e-12)


def test_errors_and_job(arch_case):
    model, images, _ = arch_case("resnet18", SIZE)
    with pytest.raises(ValueError, match="components=600"):
        deep_feature_factorization(model, images, "layer4", components=600)
    with pytest.raises(ValueError, match="not a spatial map"):
        deep_feature_factorization(model, images, "fc", components=2)
    session = SimpleNamespace(model=model)
    job = dff_job(session, images[:1], "layer4", components=2, head=model.fc)
    assert job.key == dff_job(session, images[:1], "layer4", components=2, head="fc").key
    assert job.run().scores.shape == (2, 1000)
    e = job.estimate()  # one timed forward of the image and one timed factorization
    assert e.seconds > 0 and e.bytes > 0 and e.what == "one forward of 1 images and a factorization into 2 concepts"


def test_estimate_times_a_factorization_of_the_layers_size(arch_case, unchanged, monkeypatch):
    """The estimate times scikit-learn's NMF on seeded non-negative activations of the layer's shape (it had left
    the factorization out: 0.0 s for a job of 5 ms on the digits CNN), at most NMF_COLUMNS columns of them, scaled to
    all the images; the model is left as it was."""
    import explorer.saliency.dff as dff

    model, images, _ = arch_case("resnet18", SIZE)
    seen, real = [], dff.factorize
    monkeypatch.setattr(dff, "factorize", lambda a, k, seed=0: (seen.append((a.shape, a.min() >= 0, k)),
                                                                real(a, k, seed))[1])
    session = SimpleNamespace(model=model)
    with unchanged(model):
        dff.dff_job(session, images, "layer4", components=3).estimate()
        monkeypatch.setattr(dff, "NMF_COLUMNS", 9)  # under one image's 6 x 6 positions: one timed, scaled by 2
        dff.dff_job(session, images, "layer3", components=2).estimate()
    assert seen == [((2, 512, 3, 3), True, 3), ((1, 256, 6, 6), True, 2)]
