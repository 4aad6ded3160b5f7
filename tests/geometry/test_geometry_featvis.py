"""Feature visualisation: top images, activation maximisation rising on a fixed seed, multifaceted starts."""
import numpy as np
import pytest
import torch

from explorer.geometry import maximise, multifaceted, top_images, total_variation
from explorer.geometry.featvis import COLOR, from_image, to_image


def test_top_images_are_the_most_active(trained_session, unchanged):
    s = trained_session
    x = s.data.inputs("test")
    with unchanged(s.model):
        idx, act = top_images(s.model, x, "relu3", 5, k=7)
    with torch.no_grad():
        h = torch.relu(s.model[:6](x))[:, 5].mean((1, 2))  # conv1..conv3 + relu3, channel 5 over space
    np.testing.assert_array_equal(idx, torch.argsort(h, descending=True)[:7].numpy())
    np.testing.assert_allclose(act, h[idx].numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="unit 64"):
        top_images(s.model, x, "relu3", 64)


def test_parametrisations():
    zero = torch.zeros(3, 8, 5, 2)
    np.testing.assert_allclose(to_image(zero, (3, 8, 8), "fourier").numpy(), 0.5)
    assert np.linalg.norm(COLOR, axis=0).max() == pytest.approx(1)
    img = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    for kind in ("pixel", "fourier"):
        np.testing.assert_allclose(to_image(from_image(img, kind), (3, 8, 8), kind)[0].numpy(), img.numpy(), atol=1e-5)
    assert total_variation(torch.ones(1, 1, 4, 4)) == 0


@pytest.mark.parametrize("param", ["pixel", "fourier"])
def test_activation_rises_monotonically(trained_session, unchanged, param):
    s = trained_session
    with unchanged(s.model):
        v = maximise(s.model, "relu3", 3, s.data.shape, steps=25, lr=0.02, seed=0, param=param, jitter=0,
                     normalize=s.data.normalize)
    assert v.image.shape == (1, 8, 8) and (v.image >= 0).all() and (v.image <= 1).all()
    assert (np.diff(v.trace) > 0).all() and v.trace[-1] > v.trace[0] + 0.1  # the pre-activation of relu3
    again = maximise(s.model, "relu3", 3, s.data.shape, steps=25, lr=0.02, seed=0, param=param, jitter=0,
                     normalize=s.data.normalize)
    np.testing.assert_array_equal(v.trace, again.trace)  # seeded


def test_multifaceted(trained_session, unchanged):
    s = trained_session
    with unchanged(s.model):
        f = multifaceted(s.model, s.data.images("test"), "relu3", 3, n_facets=2, top=12, normalize=s.data.normalize,
                         steps=5, jitter=1, tv=0.1)
    assert len(f.results) == 2 and f.starts.shape == (2, 1, 8, 8) and sorted(set(f.labels)) == [0, 1]
    for k, r in enumerate(f.results):  # each starts from its cluster's mean image
        np.testing.assert_allclose(r.trace[0], float(top_act(s, f.starts[k])), rtol=1e-4)


def top_act(s, image):
    with torch.no_grad():
        return s.model[:6](s.data.normalize(torch.as_tensor(image).clamp(0.01, 0.99)[None]))[0, 3].mean()  # pre-ReLU
