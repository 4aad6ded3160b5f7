"""The playground's core: exact regions of hand-built nets against counts by hand and by the arrangement formula,
against a dense grid of activation patterns, the decision map, training on moons, snapshots, bad input."""
import itertools

import numpy as np
import pytest
import torch

from explorer.playground import all_points, input_plane, mlp, playground, points, snapshot, toy, train_job

BOX = (-3.0, 3.0, -3.0, 3.0)


def set_weights(net, *layers):
    """Copy (W, b) pairs into the net's Linear layers in order."""
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for m, (w, b) in zip(linears, layers, strict=True):
            m.weight.copy_(torch.tensor(w, dtype=torch.float32))
            m.bias.copy_(torch.tensor(b, dtype=torch.float32))
    return net.eval()


def arrangement_count(w: np.ndarray, b: np.ndarray, box) -> int:
    """Regions of the lines w @ (u, v) + b = 0 inside an open box, by Euler's formula for lines in general position
    (no two parallel, no three through a point): 1 + (lines crossing the box) + (crossings inside the box)."""
    u0, u1, v0, v1 = box
    corners = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
    crossing = sum(1 for a, c in zip(w, b) if np.ptp(np.sign(corners @ a + c)) > 0)
    inside = 0
    for i, j in itertools.combinations(range(len(w)), 2):
        p = np.linalg.solve(np.stack([w[i], w[j]]), -np.array([b[i], b[j]]))
        inside += bool(u0 < p[0] < u1 and v0 < p[1] < v1)
    return 1 + crossing + inside


def patterns_on_grid(net, box, n: int, slope: float = 0.0) -> set:
    """The distinct activation patterns (pre-activation > 0 of every hidden unit) at the centres of an n x n grid,
    computed with numpy from the weights alone (not through explorer)."""
    u0, u1, v0, v1 = box
    du, dv = (u1 - u0) / n, (v1 - v0) / n
    uu, vv = np.meshgrid(u0 + du * (np.arange(n) + 0.5), v0 + dv * (np.arange(n) + 0.5))
    h = np.stack([uu.ravel(), vv.ravel()], 1)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    bits = []
    for m in linears[:-1]:
        z = h @ m.weight.detach().double().numpy().T + m.bias.detach().double().numpy()
        bits.append(z > 0)
        h = np.where(z > 0, z, slope * z)
    rows = np.concatenate(bits, 1)
    return set(map(tuple, np.unique(rows, axis=0).astype(int)))


def regions_of(net, box=BOX):
    x = np.array([[box[0], box[2]], [box[1], box[3]]])
    return snapshot(net, input_plane(x), box, torch.zeros(1, 1, 1, 2), torch.zeros(1, dtype=torch.long))


def test_three_lines_in_general_position_make_seven_regions(unchanged):
    # units u, v and u + v - 1: three lines, three crossings (0, 0), (1, 0), (0, 1) inside the box
    w, b = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.0, -1.0])
    net = set_weights(mlp(3, 1), (w, b), (np.ones((2, 3)) * [[1], [-1]], [0.0, 0.0]))
    with unchanged(net):
        snap = regions_of(net)
    assert snap.regions.count == 7 == arrangement_count(w, b, BOX)
    assert {tuple(map(int, r)) for r in snap.regions.bits} == set(itertools.product((0, 1), repeat=3)) - {(0, 0, 1)}


def test_two_layer_hand_net_counted_by_hand():
    # h = relu(u, v), z = relu(h1 + h2 - 1): quadrant u, v > 0 cut by u + v = 1, u > 0 > v by u = 1, v > 0 > u by
    # v = 1, u, v < 0 one region: 7 regions, patterns (h1, h2, z) as below
    net = set_weights(mlp(2, 2), (np.eye(2), [0.0, 0.0]), ([[1.0, 1.0], [0.0, 0.0]], [-1.0, -1.0]),
                      ([[1.0, 0.0], [0.0, 0.0]], [0.0, 0.5]))
    snap = regions_of(net)
    # the second hidden unit is dead (z2 = -1 everywhere): its bit is 0 in every region
    codes = {tuple(map(int, r)) for r in snap.regions.bits}
    assert codes == {(1, 1, 0, 0), (1, 1, 1, 0), (1, 0, 0, 0), (1, 0, 1, 0), (0, 1, 0, 0), (0, 1, 1, 0), (0, 0, 0, 0)}
    # the decision boundary z = 0.5: u + v = 1.5 in the first quadrant, u = 1.5 below it, v = 1.5 left of it
    length = sum(float(np.linalg.norm(s[1] - s[0])) for s in snap.boundary)
    assert length == pytest.approx(3 + 3 + 1.5 * np.sqrt(2))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_first_layer_regions_equal_the_arrangement_count(seed):
    """One hidden layer of 6 random units: the exact count equals Euler's formula for its 6 lines."""
    net = mlp(6, 1, seed=seed).eval()
    w, b = net.fc1.weight.detach().double().numpy(), net.fc1.bias.detach().double().numpy()
    assert regions_of(net).regions.count == arrangement_count(w, b, BOX)


@pytest.mark.parametrize("activation", ["relu", "leaky relu"])
def test_exact_patterns_equal_a_dense_grid_of_patterns(activation):
    """A random 2-layer net (leaky ReLU: slope 0.1): the patterns met on a 600² grid are those of the exact regions
    (the tiny ones a grid misses are all smaller than a few cells)."""
    net = mlp(5, 2, activation=activation, seed=0).eval()
    r = regions_of(net).regions
    exact = {tuple(map(int, row)) for row in r.bits}
    grid = patterns_on_grid(net, BOX, 600, 0.1 if activation == "leaky relu" else 0.0)
    assert grid <= exact
    cell = (6 / 600) ** 2
    areas = {tuple(map(int, row)): 0.5 * abs(np.cross(p, np.roll(p, -1, 0)).sum()) for row, p in
             zip(r.bits, r.polygons)}
    assert all(areas[c] < 10 * cell for c in exact - grid)
    assert len(grid) >= 0.9 * len(exact)


def test_decision_map_tiles_the_box_and_matches_the_model():
    net = mlp(6, 2, seed=1).eval()
    snap = regions_of(net)
    area = sum(0.5 * abs(np.cross(p, np.roll(p, -1, 0)).sum()) for p in snap.pieces)
    assert area == pytest.approx(36.0)
    cent = np.stack([p.mean(0) for p in snap.pieces])
    with torch.no_grad():
        pred = net(torch.tensor(cent, dtype=torch.float32).view(-1, 1, 1, 2)).argmax(1).numpy()
    np.testing.assert_array_equal(pred, snap.classes)


def test_training_on_moons_streams_snapshots_and_reaches_95_percent():
    s = playground(toy("moons", 200, 0.1, seed=0), width=16, depth=2, seed=0)
    seen = []
    job = train_job(s, epochs=50, every=50, lr=0.01, batch_size=16)
    s.run(job, progress=lambda done, total, info=None: info and "partial" in info and seen.append(info["partial"]))
    steps = [p.step for p in seen]
    assert steps == list(range(0, 501, 50)) and seen[-1].total == 500
    assert seen[0].accuracy < 0.95 <= seen[-1].accuracy
    assert s.evaluate("train").accuracy == pytest.approx(seen[-1].accuracy)  # the trained weights are the model's
    assert s.evaluate("test").accuracy > 0.95
    x, y = all_points(s)
    assert x.shape == (200, 2) and sorted(np.bincount(y)) == [100, 100]


def test_dropout_net_regions_are_its_eval_regions():
    s = playground(toy("xor", 100, 0.05), width=8, depth=2, dropout=0.2)
    s.run(train_job(s, epochs=3, every=5))
    assert not s.model.training  # eval mode kept after training
    snapshot(s.model, input_plane(all_points(s)[0]), BOX, *[torch.zeros(1, 1, 1, 2), torch.zeros(1).long()])


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "xor"])
def test_toy_sets_are_seeded_and_balanced(name):
    a, b = toy(name, 100, 0.1, seed=3), toy(name, 100, 0.1, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (100, 2) and np.bincount(a.y).tolist() == [50, 50] and np.isfinite(a.x).all()
    assert not np.array_equal(a.x, toy(name, 100, 0.1, seed=4).x)


def test_users_points_train():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 0.3, (30, 2)), rng.normal(1, 0.3, (30, 2))])
    s = playground(points(x, [0] * 30 + [1] * 30, classes=["left", "right"]), width=4, depth=1)
    s.run(train_job(s, epochs=20))
    assert s.evaluate("test").accuracy == 1.0 and s.data.classes == ("left", "right")


@pytest.mark.parametrize("x, y, match", [
    ([[0.0, np.nan], [1.0, 1.0]], [0, 1], r"x has NaN or infinite.*row 0"),
    ([[0.0, 1.0], [np.inf, 1.0]], [0, 1], r"x has NaN or infinite.*row 1"),
    ([[0.0, 1.0, 2.0]], [0], r"x must be 2-D points of shape \(N, 2\)"),
    ([[0.0, 1.0], [1.0, 1.0]], [0], "y has 1 labels but x has 2"),
    ([[0.0, 1.0], [1.0, 1.0]], [0, np.nan], "y must hold integer class labels"),
    ([[0.0, 1.0], [1.0, 1.0]], [0, 0.5], "y must hold integer class labels"),
    ([[0.0, 1.0], [1.0, 1.0]], [1, 1], "one class only"),
])
def test_bad_points_are_refused_naming_the_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        points(x, y)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown toy set 'rings'"):
        toy("rings")
    with pytest.raises(ValueError, match="noise must be"):
        toy("moons", noise=float("nan"))
    with pytest.raises(ValueError, match="width must be"):
        mlp(0)
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp(4, activation="tanh")
    with pytest.raises(ValueError, match="dropout must be"):
        mlp(4, dropout=1.0)
    with pytest.raises(ValueError, match="every must be"):
        train_job(playground(toy("moons", 20)), every=0)
    with pytest.raises(ValueError, match="classes names only 2"):
        points([[0, 0], [1, 1], [2, 2]], [0, 1, 2], classes=["a", "b"])
