"""Local complexity on a single ReLU layer with known hyperplanes; seeded directions."""
import numpy as np
import pytest
import torch
from torch import nn

from explorer.codes import cross_polytope, local_complexity


def axis_net():
    """One ReLU layer whose units are the hyperplanes x0 = 0 and x1 = 0."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[0].bias.zero_()
    return net


def test_known_counts_near_and_far_from_hyperplanes(unchanged):
    # with 4 vertices in 2-D the cross-polytope of radius r contains the disc of radius r / sqrt(2) ~ 0.0707 r/0.1,
    # and lies in the disc of radius r: a hyperplane closer than 0.07 is crossed, one farther than 0.1 is not
    x = torch.tensor([[0.05, 5.0], [5.0, 5.0], [0.01, -0.02], [-3.0, 0.06], [0.2, 0.2]])
    net = axis_net()
    for seed in range(5):  # any rotation of the directions
        with unchanged(net):
            lc = local_complexity(net, x, radius=0.1, n_vertices=4, seed=seed, batch_size=8)
        assert lc["1"].tolist() == [1, 0, 2, 1, 0]
        assert lc["total"].tolist() == [1, 0, 2, 1, 0]


def test_directions_are_orthonormal_and_seeded():
    v = cross_polytope(10, 8, seed=3)
    np.testing.assert_allclose((v @ v.T).numpy(), np.eye(4), atol=1e-6)
    assert torch.equal(v, cross_polytope(10, 8, seed=3)) and not torch.equal(v, cross_polytope(10, 8, seed=4))
    with pytest.raises(ValueError, match="even"):
        cross_polytope(10, 3)
    with pytest.raises(ValueError, match="do not fit"):
        cross_polytope(2, 6)


def test_per_layer_counts_sum_on_a_cnn(tiny_cnn):
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    lc = local_complexity(tiny_cnn, x, radius=0.5, n_vertices=6)
    assert set(lc) == {"relu1", "relu2", "total"}
    np.testing.assert_array_equal(lc["total"], lc["relu1"] + lc["relu2"])
    assert (lc["relu1"] <= 4 * 64).all() and lc["total"].sum() > 0
    assert local_complexity(tiny_cnn, x, radius=1e-9, n_vertices=6)["total"].sum() == 0
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):  # a point has no neighbourhood
        local_complexity(tiny_cnn, x, radius=0.0, n_vertices=6)
