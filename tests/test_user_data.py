"""The user's own data: the model sees exactly what was passed (one input rule in every lab), opt-in transforms,
stratified evaluation subsamples."""
import numpy as np
import pytest
import torch
from torch import nn

from explorer import Session, evaluate, from_arrays
from explorer.codes import activation_codes, session_codes
from explorer.data import as_model_input, stratified_indices


@pytest.fixture(scope="module")
def raw_digits():
    """sklearn's digits as float32 in [0, 1] (not standardised: mean about 0.3), a fixed 80/20 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return x[:1400], d.target[:1400], x[1400:], d.target[1400:]


@pytest.fixture(scope="module")
def raw_model(raw_digits):
    """A LeakyReLU MLP trained on the raw (unstandardised) images, by a plain loop that does not use explorer."""
    xtr, ytr, _, _ = raw_digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.LeakyReLU(0.1), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval().requires_grad_(False)


def _uint8(x):
    return np.round(x * 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["float32", "float64", "uint8", "float16"])
def test_evaluate_through_from_arrays_equals_the_model_on_x(raw_digits, raw_model, kind):
    xtr, ytr, xte, yte = raw_digits
    cast = {"float32": lambda a: a, "float64": lambda a: a.astype(np.float64), "uint8": _uint8,
            "float16": lambda a: a.astype(np.float16)}[kind]
    # the documented rule by hand: uint8 / 255, other floats as float32
    direct_x = torch.from_numpy(cast(xte)).float() / (255.0 if kind == "uint8" else 1.0)
    direct = evaluate(raw_model, direct_x, torch.from_numpy(yte))
    ours = Session(raw_model, from_arrays(cast(xtr), ytr, cast(xte), yte)).evaluate()
    assert direct.accuracy > 0.85
    assert ours.accuracy == direct.accuracy and ours.loss == direct.loss
    assert torch.equal(ours.probabilities, direct.probabilities)


def test_a_trained_models_codes_are_unchanged_through_from_arrays(raw_digits, raw_model):
    xtr, ytr, xte, yte = raw_digits
    s = Session(raw_model, from_arrays(xtr, ytr, xte, yte))
    assert torch.equal(s.data.inputs("test"), torch.from_numpy(xte))
    np.testing.assert_array_equal(session_codes(s, split="test").packed,
                                  activation_codes(raw_model, torch.from_numpy(xte)).packed)


def test_standardising_is_opt_in(raw_digits):
    xtr, ytr, xte, yte = raw_digits
    s = from_arrays(xtr, ytr, xte, yte, mean=0.5, std=0.25)
    assert torch.allclose(s.inputs("test"), (torch.from_numpy(xte) - 0.5) / 0.25)
    d = from_arrays(xtr, ytr, xte, yte, mean="data", std="data")  # the old behaviour, when asked
    x = d.inputs("train")
    assert abs(x.mean().item()) < 1e-5 and abs(x.std().item() - 1) < 1e-3
    with pytest.raises(ValueError, match="one per channel"):
        from_arrays(xtr, ytr, mean=[0.1, 0.2])
    with pytest.raises(ValueError, match="std must be > 0"):
        from_arrays(xtr, ytr, std=0)
    with pytest.raises(ValueError, match="'data'"):
        from_arrays(xtr, ytr, mean="imagenet")


def test_torchvision_weights_transforms():
    from torchvision.models import ResNet18_Weights

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(10, 40, 30, 3)).astype(np.uint8)
    y = np.arange(10) % 2
    preset = ResNet18_Weights.DEFAULT.transforms()
    for t in (ResNet18_Weights.DEFAULT, preset):  # the weights or their transforms()
        s = from_arrays(x, y, x[:4], y[:4], transform=t)
        assert s.shape == (3, 224, 224)
        # what the preset does to float images in [0, 1] (its convert_image_dtype is then a no-op)
        want = preset(torch.from_numpy(x[:4]).permute(0, 3, 1, 2).float() / 255)
        assert torch.allclose(s.inputs("test"), want, atol=1e-5)
        assert 0 <= s.images("test").min() and s.images("test").max() <= 1  # display images stay in [0, 1]
    # any callable that keeps the shape
    s = from_arrays(x, y, x[:4], y[:4], transform=lambda t: t * 2 - 1)
    assert torch.allclose(s.inputs("test"), torch.from_numpy(x[:4]).permute(0, 3, 1, 2) / 255 * 2 - 1)
    with pytest.raises(ValueError, match="same shape"):
        from_arrays(x, y, transform=lambda t: t[..., :8, :8])
    with pytest.raises(ValueError, match="either transform= or mean="):
        from_arrays(x, y, transform=preset, mean=0.5)


def test_one_input_rule_in_every_lab(tiny_cnn, unchanged):
    """uint8 -> / 255 and float64 -> the model's float32 give the same results as the float32 images in saliency,
    codes and the landscape; a float64 model takes float32 data."""
    from explorer.landscape.directions import random_plane
    from explorer.landscape.lab import at_point
    from explorer.saliency import METHODS

    gen = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (4, 1, 8, 8), generator=gen, dtype=torch.uint8)
    x32 = u8.float() / 255
    x64 = x32.double()
    cam = METHODS["Grad-CAM"]()
    with unchanged(tiny_cnn):
        want = cam(tiny_cnn, x32)
        assert torch.equal(cam(tiny_cnn, u8), want)
        assert torch.allclose(cam(tiny_cnn, x64), want, atol=1e-6)
        assert torch.allclose(METHODS["Input gradient"]()(tiny_cnn, x64), METHODS["Input gradient"]()(tiny_cnn, x32))
        for x in (u8, x64):
            np.testing.assert_array_equal(activation_codes(tiny_cnn, x).packed, activation_codes(tiny_cnn, x32).packed)
        d1, d2 = random_plane(tiny_cnn, seed=0)
        y = torch.tensor([0, 1, 2, 0])
        ref = at_point(tiny_cnn, d1, d2, 0.1, 0.2, x32, y, x32[:2])
        for x in (u8, x64):
            r = at_point(tiny_cnn, d1, d2, 0.1, 0.2, x, y, x[:2])
            assert r["loss"] == pytest.approx(ref["loss"], abs=1e-6) and r["accuracy"] == ref["accuracy"]
    net64 = nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).double()
    assert activation_codes(nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.ReLU()).double(), x32).n_bits == 3
    assert evaluate(net64, x32, y).probabilities.shape == (4, 3)
    with pytest.raises(ValueError, match="dtype torch.int32: pass uint8"):
        as_model_input(u8.int(), tiny_cnn)
    with pytest.raises(ValueError, match="overflow torch.float32"):
        as_model_input(torch.full((1, 1, 2, 2), 1e300, dtype=torch.float64), tiny_cnn)


def test_stratified_indices():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_indices(y, 100, seed=3)
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [60, 30, 10]
    assert np.array_equal(idx, stratified_indices(torch.from_numpy(y), 100, seed=3))
    assert not np.array_equal(idx, stratified_indices(y, 100, seed=4))
    assert len(stratified_indices(y, 7)) == 7  # rounding keeps the total exact
    assert np.array_equal(stratified_indices(y, 5000), np.arange(1000))
    with pytest.raises(ValueError, match="positive integer"):
        stratified_indices(y, 0)


def test_a_lab_asks_for_a_stratified_sample(digits):
    x, y, idx = digits.sample("test", 100, seed=1)
    assert len(x) == len(y) == 100 and torch.equal(x, digits.inputs("test")[idx]) and torch.equal(
        y, digits.labels("test")[idx])
    share = np.bincount(y.numpy(), minlength=10) / 100
    assert np.abs(share - np.bincount(digits.labels("test").numpy()) / 450).max() <= 0.01
    x, y, idx = digits.sample("test")  # nothing subsamples unless asked
    assert torch.equal(x, digits.inputs("test")) and len(idx) == 450
