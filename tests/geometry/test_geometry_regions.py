"""Linear regions on a plane: a hand-built net whose regions are counted by hand, grid versus exact, errors."""
import numpy as np
import pytest
import torch
from torch import nn

from explorer.codes import activation_codes
from explorer.geometry import exact_regions, grid_regions, grid_samples, plane_from, plane_through, region_at

BOX = (-5.0, 5.0, -5.0, 5.0)


def hand_net() -> nn.Sequential:
    """h = relu(x), z = relu(h1 + h2 - 1), logits (z, 0.5): regions counted by hand below."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2)), net[0].bias.zero_()
        net[2].weight.fill_(1.0), net[2].bias.fill_(-1.0)
        net[4].weight.copy_(torch.tensor([[1.0], [0.0]])), net[4].bias.copy_(torch.tensor([0.0, 0.5]))
    return net.eval()


def unit_plane():
    """The plane through (0, 0), (1, 0), (0, 1): plane coordinates are the inputs themselves."""
    e = torch.eye(2, dtype=torch.float64)
    return plane_through(torch.zeros(2, dtype=torch.float64), e[0], e[1])


# By hand: quadrant x1, x2 > 0 is cut by x1 + x2 = 1; x1 > 0 > x2 by x1 = 1; x2 > 0 > x1 by x2 = 1; x1, x2 < 0
# is one region: 7 patterns (h1, h2, z).
HAND_CODES = {(1, 1, 0), (1, 1, 1), (1, 0, 0), (1, 0, 1), (0, 1, 0), (0, 1, 1), (0, 0, 0)}


def _on_a_line(p, lines):
    return any(abs(a * p[0] + b * p[1] + c) < 1e-9 for a, b, c in lines)


def test_hand_net_exact_regions_count_and_boundaries(unchanged):
    net, plane = hand_net(), unit_plane()
    with unchanged(net):
        r = exact_regions(net, plane, bounds=BOX)
    assert r.count == 7
    assert {tuple(int(b) for b in bits) for bits in r.bits} == HAND_CODES
    # every edge lies on x1 = 0, x2 = 0, x1 + x2 = 1, x1 = 1, x2 = 1 or the box
    lines = [(1, 0, 0), (0, 1, 0), (1, 1, -1), (1, 0, -1), (0, 1, -1), (1, 0, 5), (1, 0, -5), (0, 1, 5), (0, 1, -5)]
    for seg in np.concatenate(r.edges()):
        assert _on_a_line(seg[0], lines) and _on_a_line(seg[1], lines) and _on_a_line(seg.mean(0), lines)
    # the decision boundary z = 0.5: x1 + x2 = 1.5 in the first quadrant, x1 = 1.5 below it, x2 = 1.5 left of it
    segs = r.decision_segments()
    assert all(_on_a_line(s[0], [(1, 1, -1.5), (1, 0, -1.5), (0, 1, -1.5)]) for _, _, s in segs)
    length = sum(float(np.linalg.norm(s[1] - s[0])) for _, _, s in segs)
    assert length == pytest.approx(5 + 5 + 1.5 * np.sqrt(2))
    # the affine map in the region holding (2, 2): z = u + v - 1
    i = r.locate(2.0, 2.0)
    np.testing.assert_allclose(r.weight[i], [[1, 1], [0, 0]])
    np.testing.assert_allclose(r.bias[i], [-1, 0.5])


def test_hand_net_grid_regions_and_region_at(unchanged):
    net, plane = hand_net(), unit_plane()
    train = torch.tensor([[2.0, 2.0], [3.0, 0.5], [0.2, 0.2], [-1.0, -1.0]], dtype=torch.float64)
    with unchanged(net):
        g = grid_regions(net, plane, resolution=200, bounds=BOX)
        r = region_at(net, plane, 2.5, 1.0, inputs=train)
    assert g.count == 7
    assert {tuple(int(b) for b in g.bits(i)) for i in range(g.count)} == HAND_CODES
    assert g.ids.shape == (200, 200) and g.boundary.any() and g.decision.any()
    assert set(np.unique(g.predicted)) == {0, 1}
    # boundary cells sit next to one of the hand-counted lines (cells are 0.05 wide)
    u, v = g.u[g.boundary], g.v[g.boundary]
    near = np.minimum.reduce([np.abs(u), np.abs(v), np.abs(u + v - 1) / np.sqrt(2), np.abs(u - 1), np.abs(v - 1)])
    assert near.max() < 0.1
    assert list(r.bits) == [1, 1, 1] and list(r.members) == [0, 1]
    np.testing.assert_allclose(r.plane_weight, [[1, 1], [0, 0]], atol=1e-12)
    np.testing.assert_allclose(r.plane_bias, [-1, 0.5], atol=1e-12)
    # the origin sees four regions within 0.5 (the quadrants, z off), the far corner one
    g.anchors = np.array([[0.0, 0.0], [-4.0, -4.0]])
    assert list(g.density(0.5)) == [4, 1]


@pytest.mark.parametrize("lines, expected", [
    ([(1, 0, 0.3), (0, 1, -0.2), (1, 1, 0.5)], 7),  # three lines in general position: 1 + 3 + 3
    ([(1, 0, 0), (0, 1, 0), (1, 1, 0)], 6),  # three concurrent lines
    ([(1, 0, 0), (0, 1, 0), (0, 0, 0), (1, 0, -20)], 4),  # a zero unit and a line outside the box add none
])
def test_line_arrangements(lines, expected):
    net = nn.Sequential(nn.Linear(2, len(lines)), nn.ReLU(), nn.Linear(len(lines), 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[a, b] for a, b, _ in lines], dtype=torch.float64))
        net[0].bias.copy_(torch.tensor([c for *_, c in lines], dtype=torch.float64))
    assert exact_regions(net, unit_plane(), bounds=BOX).count == expected


def test_grid_agrees_with_exact_on_a_random_mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.LeakyReLU(0.1),
                        nn.Linear(8, 3)).eval()
    x = torch.randn(3, 6)
    plane = plane_through(*x)
    exact = exact_regions(net, plane)
    grid = grid_regions(net, plane, resolution=60)
    assert 0 < grid.count <= exact.count
    codes = activation_codes(net, plane.points(grid.u.ravel(), grid.v.ravel()))
    np.testing.assert_array_equal(grid_samples(net, plane, resolution=60, batch_size=500).packed, codes.packed)
    codes = codes.bits()
    for cell in range(0, grid.u.size, 97):  # each sampled cell's code is that of the exact polygon holding it
        i = exact.locate(grid.u.ravel()[cell], grid.v.ravel()[cell])
        assert list(exact.bits[i]) == list(codes[cell])


def test_grid_regions_of_the_cnn(digits, unchanged):
    torch.manual_seed(0)
    from explorer.models import SmallCNN

    net = SmallCNN().eval()
    x = digits.inputs("test")[:3]
    plane = plane_through(*x.double())  # a float64 plane still feeds the float32 model
    with unchanged(net):
        g = grid_regions(net, plane, resolution=12, layers="relu1")
        r = region_at(net, plane, *plane.anchors[1], layers="relu1", inputs=x)
    assert g.count >= 1 and g.predicted.shape == (12, 12)
    assert 1 in r.members and r.exact
    with pytest.raises(ValueError, match="MLP"):
        exact_regions(net, plane)
    with pytest.raises(KeyError, match="relu9"):
        grid_regions(net, plane, resolution=4, layers="relu9")


class TwiceReLU(nn.Module):
    """One ReLU module called twice (as in a torchvision BasicBlock), then a head."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.relu, self.head = nn.Linear(4, 5), nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 2)

    def forward(self, x):
        return self.head(self.relu(self.b(self.relu(self.a(x)))))


def test_codes_only_grid_stops_after_the_layers(digits, unchanged):
    """logits=False (widest_regions' span search): the same codes, but after the first cell each forward ends at
    the layers' last call, so the head never runs again; a module called twice records both calls first."""
    from explorer.geometry import partition
    from explorer.models import SmallCNN

    torch.manual_seed(0)
    cases = [(SmallCNN().eval(), "relu1", "conv2", digits.inputs("test")[:3]),
             (SmallCNN().eval(), None, "fc", digits.inputs("test")[:3]),
             (TwiceReLU().eval(), "relu", "head", torch.randn(3, 4))]
    for net, layers, after, x in cases:
        seen = []
        handle = getattr(net, after).register_forward_hook(lambda m, i, o, seen=seen: seen.append(len(o)))
        plane = plane_through(*x)
        with unchanged(net):
            full = grid_samples(net, plane, 12, layers=layers, batch_size=50)
            ran, seen[:] = sum(seen), []
            codes = grid_samples(net, plane, 12, layers=layers, batch_size=50, logits=False)
        handle.remove()
        np.testing.assert_array_equal(codes.packed, full.packed)
        assert codes.n_bits == full.n_bits and codes.logits.shape == (144, 0) and full.logits.shape[0] == 144
        assert ran == 144 and seen == [1]  # the first cell's probe only
        r = partition(codes)
        assert (r.predicted == 0).all() and r.count == partition(full).count


def test_planes_refuse_collinear_inputs():
    x0, d = torch.zeros(4), torch.ones(4)
    with pytest.raises(ValueError, match="collinear"):
        plane_through(x0, x0 + d, x0 + 3 * d)
    with pytest.raises(ValueError, match="same input"):
        plane_through(x0, x0, d)
    with pytest.raises(ValueError, match="parallel"):
        plane_from(x0, d, -2 * d)
    with pytest.raises(ValueError, match="NaN"):
        plane_through(x0, d, torch.full((4,), float("nan")))
    p = plane_from(x0, torch.tensor([2.0, 0, 0, 0]), torch.tensor([1.0, 1.0, 0, 0]))
    np.testing.assert_allclose(p.basis.numpy(), [[1, 0, 0, 0], [0, 1, 0, 0]], atol=1e-7)
    np.testing.assert_allclose(p.project(p.points([0.5], [-2.0])), [[0.5, -2.0]], atol=1e-6)


@pytest.mark.parametrize("bounds", [(float("nan"), 1.0, -1.0, 1.0), (-1.0, 1.0, -1.0, float("inf")),
                                    (1.0, -1.0, -1.0, 1.0), (0.0, 1.0, 2.0), "wide"])
def test_bad_bounds_are_refused(bounds):
    """NaN bounds gave one "region" (every grid point NaN): the grid, the exact regions and the plane refuse them."""
    net, plane = hand_net(), unit_plane()
    for fn in (lambda: grid_regions(net, plane, resolution=4, bounds=bounds), lambda: exact_regions(net, plane, bounds),
               lambda: plane.grid(4, bounds)):
        with pytest.raises(ValueError, match="bounds must be"):
            fn()
    assert plane.check_bounds(None) == plane.bounds() and plane.check_bounds(BOX) == BOX


def test_resolved_when_most_regions_span_more_than_a_cell():
    """By hand: at 2 x 2 cells the hand net's cell centres (+-2.5, +-2.5) have four codes, (0,0,0), (1,0,1),
    (0,1,1), (1,1,1): every region is one cell, the grid resolves nothing; at 200² its 7 regions are large."""
    net, plane = hand_net(), unit_plane()
    coarse = grid_regions(net, plane, resolution=2, bounds=BOX)
    assert coarse.count == 4 and list(coarse.sizes()) == [1, 1, 1, 1] and not coarse.resolved
    fine = grid_regions(net, plane, resolution=200, bounds=BOX)
    assert fine.count == 7 and fine.sizes().sum() == 200 * 200 and fine.resolved


def test_zoomed_bounds_shrink_the_box_about_its_centre():
    """Anchors (0, 0), (1, 0), (0, 1): the box grown by half its side is (-0.5, 1.5) squared; zoom 0.5 keeps the
    centre (0.5, 0.5) and halves each side."""
    plane = unit_plane()
    assert plane.bounds() == plane.bounds(zoom=1.0) == (-0.5, 1.5, -0.5, 1.5)
    assert plane.bounds(zoom=0.5) == (0.0, 1.0, 0.0, 1.0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="zoom must be"):
            plane.bounds(zoom=bad)


def test_widest_regions_takes_the_widest_span_that_shows_regions():
    """The hand net's 7 regions fill the unit plane's box (-0.5, 1.5)² in large pieces: the widest span is taken;
    asking for more cells a region than any grid has ends at the narrowest span, about (0.5, 0.5) on the line
    x1 + x2 = 1: two regions."""
    from explorer.geometry import widest_regions

    net, plane = hand_net(), unit_plane()
    r = widest_regions(net, plane, resolution=40, search=20)
    assert r.ids.shape == (40, 40) and r.count == 7 and (r.u.min(), r.u.max()) == pytest.approx((-0.475, 1.475))
    narrow = widest_regions(net, plane, resolution=40, cells=1e9, search=20)
    assert narrow.count == 2 and narrow.u.max() - narrow.u.min() == pytest.approx(0.01 * 2 * 39 / 40)


def test_widest_regions_as_the_plain_search_but_cheaper(digits, unchanged):
    """The span search gives the grid the plain search gives (every span's full grid with logits, widest first),
    cell for cell, on a CNN's early layer and on all its layers, feeding fewer cells (a span is given up once its
    grid has more codes than it can show) and running the head only for the result's cells (and each probe's)."""
    from explorer.geometry import shows_regions, widest_regions
    from explorer.geometry.span import ZOOMS
    from explorer.models import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN().eval()
    plane = plane_through(*digits.inputs("test")[:3])
    fed, headed = [], []
    net.conv1.register_forward_hook(lambda m, i, o: fed.append(len(o)))
    net.fc.register_forward_hook(lambda m, i, o: headed.append(len(o)))
    for layers in ("relu1", None):
        for resolution, search in ((40, 20), (20, 20)):
            fed[:], headed[:] = [], []
            for zoom in ZOOMS:  # the plain search
                bounds = plane.bounds(zoom=zoom)
                plain = grid_regions(net, plane, search, bounds, layers)
                if shows_regions(plain, 20 * (search / resolution) ** 2):
                    break
            plain = grid_regions(net, plane, resolution, bounds, layers) if search < resolution else plain
            plain_fed = sum(fed)
            fed[:], headed[:] = [], []
            with unchanged(net):
                r = widest_regions(net, plane, resolution, layers, search=search)
            for name in ("u", "v", "ids", "predicted", "boundary", "decision"):
                np.testing.assert_array_equal(getattr(r, name), getattr(plain, name), err_msg=f"{layers} {name}")
            if search < resolution:
                assert sum(fed) < plain_fed, (layers, sum(fed), plain_fed)
                assert sum(headed) <= resolution ** 2 + len(ZOOMS), (layers, sum(headed))


def test_a_grid_of_no_cells_is_refused_by_name(digits):
    """resolution=0 divided by zero inside the grid (issue 22.7): now a ValueError that names the setting."""
    from explorer import Session
    from explorer.geometry import lab

    s = Session.open(digits, "cnn", device="cpu", epochs=0, seed=0)
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="resolution must be an integer >= 1"):
            s.run(lab.regions_job(s, [0, 1, 2], resolution=bad))
