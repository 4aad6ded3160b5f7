"""Directions: Gaussian, filter/layer normalised, explicit 1-D policy, seeded, PCA, model-to-model."""
import numpy as np
import pytest
import torch

from explorer.landscape import model_direction, pca_directions, random_direction, random_plane
from explorer.models import MLP, SmallCNN


@pytest.fixture
def cnn():
    torch.manual_seed(1)
    return SmallCNN(1, 10, width=8).eval()


def test_gaussian_about_half_negative(cnn, unchanged):
    with unchanged(cnn):
        d = random_direction(cnn, norm="filter", seed=3)
    entries = torch.cat([v.reshape(-1) for v in d.values() if v.dim() > 1])
    assert 0.45 < (entries < 0).float().mean().item() < 0.55  # uniform [0, 1] (loss-landscapes) would give 0
    raw = random_direction(cnn, norm="none", one_d="scaled", seed=3)
    allv = torch.cat([v.reshape(-1) for v in raw.values()])
    assert abs(allv.mean().item()) < 0.05 and abs(allv.std().item() - 1) < 0.05  # N(0, 1) before normalisation


def test_filter_normalised_per_filter(cnn):
    d = random_direction(cnn, norm="filter", one_d="zero", seed=0)
    for name, w in cnn.named_parameters():
        if w.dim() > 1:
            dn = d[name].reshape(len(w), -1).norm(dim=1)
            wn = w.detach().reshape(len(w), -1).norm(dim=1)
            torch.testing.assert_close(dn, wn, rtol=1e-5, atol=1e-7)
            assert not torch.allclose(d[name].abs(), w.detach().abs())  # not a rescaled copy of |w|
        else:
            assert torch.count_nonzero(d[name]) == 0, f"{name}: 1-D tensors must be zero under 'zero'"
    # scale: with 1-D tensors ignored the direction has the norm of the weights of dim >= 2 (Li et al.)
    total = torch.cat([v.reshape(-1) for v in d.values()]).norm()
    ref = torch.cat([w.detach().reshape(-1) for w in cnn.parameters() if w.dim() > 1]).norm()
    assert abs(total.item() / ref.item() - 1) < 1e-5


def test_layer_norm_and_scaled_one_d(cnn):
    d = random_direction(cnn, norm="layer", one_d="scaled", seed=0)
    for name, w in cnn.named_parameters():
        assert abs(d[name].norm().item() - w.detach().norm().item()) < 1e-4 * max(1.0, w.detach().norm().item())
        if w.dim() == 1:
            assert not torch.allclose(d[name], w.detach().abs())  # loss-landscapes' d == |b| defect
    # filter-normalised rows of a 1-row tensor equal the layer-normalised one: both use the same draw
    f = random_direction(cnn, norm="filter", one_d="scaled", seed=0)
    for name, w in cnn.named_parameters():
        if w.dim() == 1:
            torch.testing.assert_close(f[name], d[name])


def test_seeded_and_global_rng_untouched(cnn):
    state = torch.random.get_rng_state()
    a, b = random_direction(cnn, seed=5), random_direction(cnn, seed=5)
    c = random_direction(cnn, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])
    d1, d2 = random_plane(cnn, seed=5)
    assert torch.equal(d1["conv1.weight"], a["conv1.weight"]) and torch.equal(d2["conv1.weight"], c["conv1.weight"])
    flat = [torch.cat([v.reshape(-1) for v in d.values()]) for d in (d1, d2)]
    assert abs(torch.nn.functional.cosine_similarity(*flat, dim=0).item()) < 0.1  # nearly orthogonal
    assert all(v.device == w.device and v.dtype == w.dtype for v, w in zip(a.values(), cnn.parameters(), strict=True))


def test_bad_choices_name_valid_ones(cnn):
    with pytest.raises(ValueError, match="filter, layer, none"):
        random_direction(cnn, norm="dfilter")
    with pytest.raises(ValueError, match="zero, scaled"):
        random_direction(cnn, one_d="biasbn")


def test_model_direction_and_architecture_check(cnn, unchanged):
    torch.manual_seed(2)
    other = SmallCNN(1, 10, width=8)
    with unchanged(cnn), unchanged(other):
        d = model_direction(cnn, other)
        d_state = model_direction(cnn, other.state_dict())
    for (n, w), v in zip(cnn.named_parameters(), other.parameters(), strict=True):
        assert torch.equal(d[n], v.detach() - w.detach()) and torch.equal(d_state[n], d[n])
    with pytest.raises(ValueError, match="different architectures"):
        model_direction(cnn, SmallCNN(1, 10, width=4))
    with pytest.raises(ValueError, match="different architectures"):
        model_direction(cnn, MLP((1, 8, 8), 4, 1, 10))


def test_pca_recovers_the_main_axis_of_a_trajectory(unchanged):
    torch.manual_seed(0)
    model = MLP((1, 4, 4), 6, 1, 3)
    base = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    u = {k: torch.randn(v.shape, generator=gen) for k, v in base.items()}
    v2 = {k: torch.randn(v.shape, generator=gen) for k, v in base.items()}
    ts = torch.linspace(-1, 1, 9)  # large steps along u, small wiggles along v2
    ckpts = [(i, {k: base[k] + t * u[k] + 0.05 * ((-1) ** i) * v2[k] for k in base}) for i, t in enumerate(ts)]
    with unchanged(model):
        dirs, ratio = pca_directions(model, ckpts, k=2, one_d="scaled")
    flat = torch.cat([dirs[0][k].reshape(-1) for k in base])
    uf = torch.cat([u[k].reshape(-1) for k in base])
    assert abs(torch.nn.functional.cosine_similarity(flat, uf, dim=0).item()) > 0.99
    assert ratio[0] > 0.9 and ratio[0] >= ratio[1]
    assert abs(flat.norm().item() - 1) < 1e-5
    zero = pca_directions(model, ckpts, k=1, one_d="zero")[0][0]
    assert torch.count_nonzero(zero["fc1.bias"]) == 0
    with pytest.raises(ValueError, match="at least 3 checkpoints"):
        pca_directions(model, ckpts[:2], k=2)


def test_trajectory_projection_recovers_coordinates():
    from explorer.landscape import lab

    torch.manual_seed(0)
    model = MLP((1, 4, 4), 5, 1, 3)
    d1, d2 = random_plane(model, one_d="scaled", seed=0)
    coords = [(0.5, -1.0), (0.0, 0.0), (-0.25, 2.0)]
    ckpts = [(i, {n: w.detach() + a * d1[n] + b * d2[n] for n, w in model.named_parameters()})
             for i, (a, b) in enumerate(coords)]
    np.testing.assert_allclose(lab.project(model, ckpts, d1, d2), coords, atol=1e-5)
