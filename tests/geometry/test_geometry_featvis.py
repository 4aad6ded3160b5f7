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
                     normalize=s.data.normalize, pre=True)
    assert v.image.shape == (1, 8, 8) and (v.image >= 0).all() and (v.image <= 1).all()
    assert (np.diff(v.trace) > 0).all() and v.trace[-1] > v.trace[0] + 0.1  # the pre-activation of relu3
    again = maximise(s.model, "relu3", 3, s.data.shape, steps=25, lr=0.02, seed=0, param=param, jitter=0,
                     normalize=s.data.normalize, pre=True)
    np.testing.assert_array_equal(v.trace, again.trace)  # seeded


@pytest.mark.parametrize("layer, units", [("relu1", (0, 1, 2)), ("relu3", (0, 1, 2))])
def test_reaches_the_best_real_image(trained_session, unchanged, layer, units):
    """The default settings on the default CNN reach each unit's best real image (train and test), or say that
    they did not converge; the objective is what top_images measures, on a plausible input."""
    s = trained_session
    x = torch.cat([s.data.inputs("train"), s.data.inputs("test")])
    for unit in units:
        _, best = top_images(s.model, x, layer, unit, k=1)
        with unchanged(s.model):
            v = maximise(s.model, layer, unit, s.data.shape, normalize=s.data.normalize, seed=0)
        assert v.trace[-1] >= best[0] or not v.converged, (layer, unit, v.trace[-1], best[0])
        assert v.trace[-1] >= best[0]  # on seed 0 every one of these gets there
        assert (v.image >= 0).all() and (v.image <= 1).all() and v.image.shape == s.data.shape
        again, _ = top_images(s.model, s.data.normalize(torch.as_tensor(v.image)[None]), layer, unit, k=1)
        np.testing.assert_allclose(_, v.trace[-1], rtol=1e-5)  # the trace measures what top_images measures
        assert f"{layer}[{unit}] activation, mean over space: {v.trace[-1]:.3g}" in v.label()


def test_an_off_unit_is_redirected_and_progress_has_three_digits(unchanged):
    """A unit off everywhere at the start (zero gradient through its ReLU) still rises: the step follows its
    pre-activation (Lucid's redirected ReLU), up to the known optimum; the bar gets 3 significant digits."""
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())  # relu(x - 0.6): off on the grey start (0.5)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.fill_(-0.6)
    seen = []
    with unchanged(model):
        v = maximise(model, "1", 0, (1, 4, 4), steps=300, lr=0.1, jitter=0, seed=0,
                     progress=lambda done, total, info: seen.append(info["activation"]))
    assert v.trace[0] == 0 and v.trace[-1] == pytest.approx(0.4, abs=0.01)  # the optimum: a white image, 1 - 0.6
    assert v.image.min() > 0.99 and v.converged
    assert seen == [f"{t:.3g}" for t in v.trace[:-1]] and seen[-1] == f"{v.trace[-2]:.3g}" and len(seen[-1]) <= 5


def test_not_converged_is_reported(trained_session):
    s = trained_session
    v = maximise(s.model, "relu3", 0, s.data.shape, steps=6, normalize=s.data.normalize)
    assert not v.converged and v.change > 0.01 and v.grad_norm > 0 and "did not converge" in v.label()
    with pytest.raises(ValueError, match="pre=True needs a ReLU-like layer"):
        maximise(s.model, "conv1", 0, s.data.shape, steps=1, pre=True)


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
