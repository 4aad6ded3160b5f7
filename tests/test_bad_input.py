"""Bad input gets a clear ValueError where it enters each lab, and nothing of the user's is changed."""
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from explorer import Session, from_arrays, load_checkpoint, save_checkpoint
from explorer.codes import activation_codes, knn_accuracy, knn_predict, local_complexity, purity, vote
from explorer.saliency import METHODS
from explorer.saliency.evaluation.metrics import deletion_insertion
from explorer.saliency.evaluation.rank import rank_methods
from explorer.saliency.methods.util import run_model


def _x(n=3, scale=1.0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * scale


def test_non_finite_images_in_saliency(tiny_cnn, unchanged):
    with unchanged(tiny_cnn):
        for method in ("Grad-CAM", "Input gradient"):
            bad = _x()
            bad[0, 0, 0, 0] = float("nan")
            with pytest.raises(ValueError, match="NaN or infinite values in images"):
                METHODS[method]()(tiny_cnn, bad)
            # finite images whose forward overflows: all-NaN maps before
            with pytest.raises(ValueError, match="logits are NaN or infinite.*overflow"):
                METHODS[method]()(tiny_cnn, _x(scale=3e38))


def test_non_finite_images_in_codes(tiny_cnn, unchanged):
    bad = _x()
    bad[1] = float("nan")
    with unchanged(tiny_cnn):
        with pytest.raises(ValueError, match="NaN or infinite values in inputs"):  # all-zero codes before
            activation_codes(tiny_cnn, bad)
        with pytest.raises(ValueError, match="pre-activations of relu\\d are NaN or infinite"):
            activation_codes(tiny_cnn, _x(scale=3e38))


def test_cfcam_sigma_and_local_complexity_radius(tiny_cnn):
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0.1"):  # NaN maps before
        METHODS["CF-CAM"](sigma=0)(tiny_cnn, _x())
    for r in (float("nan"), 0.0, -0.1, float("inf")):  # a NaN radius gave 0 before
        with pytest.raises(ValueError, match="radius must be a finite number > 0"):
            local_complexity(tiny_cnn, _x(), radius=r, n_vertices=4)


def test_deletion_insertion_steps_and_maps(tiny_cnn):
    x, maps, t = _x(), torch.rand(3, 8, 8), torch.zeros(3, dtype=torch.long)
    for steps in (0, -1, 2.5):
        with pytest.raises(ValueError, match="steps must be an integer >= 1"):
            deletion_insertion(tiny_cnn, x, maps, t, steps=steps)
    maps[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="maps contain NaN"):
        deletion_insertion(tiny_cnn, x, maps, t, steps=4)


def test_landscape_point_with_nan_alpha(tiny_cnn, unchanged):
    from explorer.landscape.directions import random_plane
    from explorer.landscape.lab import at_point

    d1, d2 = random_plane(tiny_cnn, seed=0)
    y = torch.tensor([0, 1, 2])
    with unchanged(tiny_cnn):
        for a, b in ((float("nan"), 0.0), (0.0, float("inf")), (0.0, None)):
            with pytest.raises(ValueError, match="(alpha|beta) must be a finite number"):
                at_point(tiny_cnn, d1, d2, a, b, _x(), y, _x(2))
        # a finite point far out overflows: a NaN loss (drawn as a gap), not an error
        r = at_point(tiny_cnn, d1, d2, 1e30, 1e30, _x(), y, _x(2))
        assert math.isnan(r["loss"])


def test_knn_with_negative_labels_counts_correctly():
    rng = np.random.default_rng(0)
    protos = rng.integers(0, 2, (3, 64), dtype=np.uint8)
    y = np.repeat([0, 1, 2], 20)
    train = protos[y] ^ (rng.random((60, 64)) < 0.1)
    query = protos[[0, 1, 2, 1]] ^ (rng.random((4, 64)) < 0.1)
    want = knn_predict(train, y, query, k=5)
    assert want.tolist() == [0, 1, 2, 1]
    assert knn_predict(train, y - 1, query, k=5).tolist() == [-1, 0, 1, 0]  # miscounted before (wrapped indices)
    assert knn_predict(train, y * 10 - 7, query, k=5).tolist() == [-7, 3, 13, 3]
    with pytest.raises(ValueError, match="class indices"):
        vote(np.array([[-1, 0, 0]]))


def test_one_class_and_empty_data_are_clear_errors():
    x = _x(10).numpy()
    with pytest.raises(ValueError, match="single class"):
        from_arrays(x, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="test split has a single class"):  # reported 100% before
        from_arrays(x, np.arange(10) % 2, x[:4], np.ones(4, dtype=int))
    with pytest.raises(ValueError, match="x_train is empty"):  # numpy's reduction error before
        from_arrays(np.zeros((0, 8, 8), np.float32), np.zeros(0, dtype=int))
    codes = np.zeros((6, 8), np.uint8)
    with pytest.raises(ValueError, match="two classes"):
        knn_accuracy(codes, np.zeros(6), codes, np.zeros(6), k=3)
    with pytest.raises(ValueError, match="query codes with one label each"):
        knn_accuracy(codes, np.arange(6) % 2, codes[:0], [], k=3)
    with pytest.raises(ValueError, match="at least one"):
        purity([], [])


@pytest.mark.parametrize("method", ["SmoothGrad", "Integrated gradients", "Grad-CAM"])
def test_empty_batch(tiny_cnn, method):
    with pytest.raises(ValueError, match="batch is empty"):  # ZeroDivisionError before (SmoothGrad, IG)
        METHODS[method]()(tiny_cnn, torch.zeros(0, 1, 8, 8))


def test_rank_methods_needs_images(digits):
    s = Session.open(digits, "mlp", device="cpu", width=4)
    for n in (0, -3):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            rank_methods(s, ["Input gradient"], n=n)


def _meta_cnn():
    with torch.device("meta"):
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))


def test_a_meta_device_model_is_a_clear_error(digits):
    net = _meta_cnn()
    for call in (lambda: Session.open(digits, net), lambda: Session(net, digits).evaluate(),
                 lambda: activation_codes(net, _x()), lambda: METHODS["Grad-CAM"]()(net, _x()),
                 lambda: METHODS["Input gradient"]()(net, _x()), lambda: METHODS["FEM"]("0")(net, _x())):
        with pytest.raises(ValueError, match="'meta' device"):
            call()


def test_a_corrupted_checkpoint_is_refused(tiny_cnn, tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(tiny_cnn, path, epoch=3)
    blob = bytearray(path.read_bytes())
    weight = tiny_cnn.conv2.weight.detach().numpy().tobytes()
    at = blob.find(weight[:32])  # the stored (uncompressed) bytes of conv2.weight
    assert at > 0
    blob[at + 8:at + 12] = bytes(b ^ 0xFF for b in blob[at + 8:at + 12])
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(blob))
    other = nn.Sequential(OrderedDict((n, m) for n, m in tiny_cnn.named_children()))
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match="CRC"):  # loaded silently before
        load_checkpoint(other, bad)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in before.items())
    assert load_checkpoint(other, path) == {"epoch": 3}  # the intact file still loads


def test_open_keeps_the_users_modes(digits):
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 10))
    net.train()
    net[2].eval()  # a mix, as a user may leave it
    modes = [m.training for m in net.modules()]
    s = Session.open(digits, net, device="cpu")
    assert [m.training for m in s.model.modules()] == modes  # left in eval mode before
    import copy

    from explorer import evaluate

    frozen = copy.deepcopy(net).eval()  # the labs still evaluate in eval mode (no dropout)
    assert torch.equal(s.evaluate().probabilities,
                       evaluate(frozen, digits.inputs("test"), digits.labels("test")).probabilities)
    assert [m.training for m in net.modules()] == modes


def test_run_model_rewords_only_shape_errors():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB; set max_split_size_mb to avoid it")

    with pytest.raises(RuntimeError, match="out of memory") as info:
        run_model(Broken(), _x())
    assert not isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="cannot run on images of shape.*shapes cannot be multiplied"):
        run_model(nn.Sequential(nn.Flatten(), nn.Linear(10, 3)), _x())
    with pytest.raises(ValueError, match="to have 3 channels"):
        run_model(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten()), _x())
