"""The million-point map's core: datashader's counts, the hover's nearest point, the lasso, the cap, embeddings."""
import numpy as np
import pytest

from explorer.codes import bigmap, lasso
from explorer.codes.embed_large import embed_large, note

pytest.importorskip("datashader")


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(3)
    xy = np.c_[rng.normal(0, 1, 20_000), rng.normal(2, 0.5, 20_000)]
    return xy, rng.integers(0, 4, len(xy))


def test_counts_equal_numpy_histogram2d(points):
    xy, codes = points
    xr, yr, w, h = (-2.5, 3.0), (0.5, 3.2), 37, 23  # some points outside: neither counts them
    agg = bigmap.counts(xy, codes, 4, xr, yr, w, h).values  # (h, w, 4)
    assert agg.shape == (h, w, 4)
    for c in range(4):
        ref, _, _ = np.histogram2d(xy[codes == c, 1], xy[codes == c, 0], bins=(h, w), range=(yr, xr))
        np.testing.assert_array_equal(agg[:, :, c], ref)  # row 0 the lowest y, as bokeh's image
    assert 0 < agg.sum() < len(xy)


def test_render_is_an_rgba_image_that_a_recolour_changes(points):
    xy, codes = points
    xr, yr = bigmap.extent(xy)
    a = bigmap.render(xy, codes, ["#ff0000", "#00ff00", "#0000ff", "#000000"], xr, yr, 50, 40)
    b = bigmap.render(xy, codes, ["#00ff00", "#ff0000", "#0000ff", "#000000"], xr, yr, 50, 40)
    assert a.shape == (40, 50) and a.dtype == np.uint32
    assert (a != b).any() and ((a >> 24) > 0).sum() > 100  # opaque where points are


def test_hover_returns_the_true_nearest_point(points):
    xy, _ = points
    xr, yr = bigmap.extent(xy)
    scale = bigmap.pixel_scale(xr, yr, 400, 300)
    tree = bigmap.screen_tree(xy, scale)
    rng = np.random.default_rng(1)
    for q in rng.uniform([-3, 0], [3, 4], (50, 2)):
        d = np.hypot(*((xy - q) * scale).T)  # brute force, on screen
        assert bigmap.nearest(tree, scale, *q) == int(np.argmin(d))
        within = bigmap.nearest(tree, scale, *q, radius=float(d.min()) / 2)
        assert within is None


def test_lasso_selects_exactly_the_points_inside():
    rng = np.random.default_rng(2)
    xy = rng.uniform(-1, 3, (50_000, 2))
    # an L: the union of two rectangles [0,2]x[0,1] and [0,1]x[1,2], drawn as one polygon (not convex)
    xs, ys = [0, 2, 2, 1, 1, 0], [0, 0, 1, 1, 2, 2]
    x, y = xy.T
    want = ((x > 0) & (x < 2) & (y > 0) & (y < 1)) | ((x > 0) & (x < 1) & (y >= 1) & (y < 2))
    np.testing.assert_array_equal(lasso.inside(xy, xs, ys), want)
    # a triangle, by its three half-planes
    tx, ty = [0.1, 2.5, 0.3], [0.2, 0.7, 2.9]
    sign = lambda a, b: (x - tx[a]) * (ty[b] - ty[a]) - (y - ty[a]) * (tx[b] - tx[a])  # noqa: E731
    s = np.sign([sign(0, 1), sign(1, 2), sign(2, 0)])
    np.testing.assert_array_equal(lasso.inside(xy, tx, ty), (s == s[0]).all(0))
    with pytest.raises(ValueError, match="3 finite vertices"):
        lasso.inside(xy, [0, 1], [0, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lasso_raster_equals_the_even_odd_test_on_every_point(seed):
    """Stars of up to 300 vertices and a self-intersecting scribble (even-odd: the loops' overlaps are outside),
    on float32 points: the raster shortcut (cells no edge crosses) changes no point's answer."""
    from matplotlib.path import Path

    rng = np.random.default_rng(seed)
    xy = rng.normal(size=(200_000, 2)).astype(np.float32)
    n = int(rng.integers(3, 300))
    angle, radius = np.sort(rng.uniform(0, 2 * np.pi, n)), rng.uniform(0.2, 3, n)
    for xs, ys in ((radius * np.cos(angle), radius * np.sin(angle)), (rng.normal(size=40), rng.normal(size=40))):
        want = Path(np.c_[xs, ys]).contains_points(xy.astype(np.float64))
        assert 1000 < want.sum() < len(xy) - 1000  # the test is not all-in or all-out
        np.testing.assert_array_equal(lasso.inside(xy, xs, ys), want)
        np.testing.assert_array_equal(lasso.inside(xy, xs, ys, lasso.ByX(xy)), want)


def test_a_lasso_box_by_x_is_the_box_of_two_passes():
    """The x-sorted slice finds the same points as two passes over all of them, those on the box's bounds too
    (whole-number coordinates: many points lie exactly on them, and many share an x)."""
    rng = np.random.default_rng(3)
    xy = rng.integers(-20, 21, (20_000, 2)).astype(np.float64)
    by_x = lasso.ByX(xy)
    for lo, hi in (([-5, -3], [7, 2]), ([0, 0], [0, 0]), ([30, 0], [40, 5]), ([-20, -20], [20, 20])):
        want = np.flatnonzero((xy >= lo).all(1) & (xy <= hi).all(1))
        for idx, px, py in (lasso.box(xy, lo, hi), lasso.box(xy, lo, hi, by_x)):
            order = np.argsort(idx)
            np.testing.assert_array_equal(idx[order], want)
            np.testing.assert_array_equal(np.c_[px, py][order], xy[want])


def test_a_map_beyond_the_cap_says_what_was_sampled():
    idx, msg = bigmap.capped(2_500_000, cap=1_000_000, seed=4)
    assert len(idx) == 1_000_000 and len(np.unique(idx)) == 1_000_000 and idx.max() < 2_500_000
    assert msg == "1,000,000 of 2,500,000 points drawn (a seeded sample, seed 4: the map's cap is 1,000,000)"
    np.testing.assert_array_equal(idx, bigmap.capped(2_500_000, cap=1_000_000, seed=4)[0])
    assert bigmap.capped(10, cap=1_000_000) == (pytest.approx(np.arange(10)), "")


def test_bad_points_are_named():
    with pytest.raises(ValueError, match="NaN or inf"):
        bigmap.check_points(np.array([[0.0, np.nan], [1, 1]]))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        bigmap.check_points(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="colour codes"):
        bigmap.counts(np.zeros((2, 2)), np.array([0, 5]), 2, (0, 1), (0, 1), 4, 4)


@pytest.mark.parametrize("method", ["UMAP", "t-SNE"])
def test_large_embeddings_fit_a_sample_and_place_the_rest(method):
    if method == "t-SNE":
        pytest.importorskip("openTSNE")  # scikit-learn's t-SNE cannot place new points
    rng = np.random.default_rng(0)
    proto = rng.integers(0, 2, (3, 24))
    bits = proto[rng.integers(0, 3, 600)] ^ (rng.random((600, 24)) < 0.05)
    pca = embed_large(bits, "PCA", fit_sample=100)
    assert pca.shape == (600, 2) and note(600, "PCA", 100) == "PCA of all 600 points"
    xy = embed_large(bits, method, seed=0, fit_sample=200)
    assert xy.shape == (600, 2) and np.isfinite(xy).all()
    assert note(600, method, 200) == (f"{method} fitted on 200 of 600 points (seeded sample), the other 400 placed "
                                      "by its transform")
    # the same code lands where the fitted codes that share it are: a placed point is near its prototype's cluster
    group = np.argmin([[np.sum(b != p) for p in proto] for b in bits], axis=1)
    centres = np.array([xy[group == g].mean(0) for g in range(3)])
    assert (np.argmin(((xy[:, None] - centres) ** 2).sum(-1), 1) == group).mean() > 0.95


def test_shade_mixes_the_colours_of_a_pixels_points():
    counts = np.zeros((2, 2, 2), np.uint32)
    counts[0, 0] = [3, 0]  # only the first colour
    counts[0, 1] = [1, 1]  # one of each: their mean
    counts[1, 1] = [0, 8]  # the most points: fully opaque
    rgba = bigmap.shade(counts, ["#ff0000", "#0000ff"], min_alpha=90).view(np.uint8).reshape(2, 2, 4)
    assert list(rgba[0, 0, :3]) == [255, 0, 0] and list(rgba[0, 1, :3]) == [128, 0, 128]
    assert rgba[1, 0, 3] == 0 and rgba[1, 1, 3] == 255 and 90 <= rgba[0, 1, 3] < rgba[0, 0, 3] < 255
    with pytest.raises(ValueError, match="palette of 2"):
        bigmap.shade(counts, ["red", "blue"])


def test_pixels_are_datashaders_bins_edges_and_outside_included():
    """bigmap.pixels puts each point in the pixel datashader counts it in: random points, points exactly on the
    ranges' edges (the far edge in the last pixel), on pixel borders, and outside (not counted)."""
    rng = np.random.default_rng(5)
    xr, yr, w, h = (-1.3, 2.1), (0.2, 1.7), 37, 23
    edges = np.array([[xr[0], yr[0]], [xr[1], yr[1]], [xr[0], yr[1]], [xr[1], yr[0]], [xr[1] + 1e-9, 1.0]])
    borders = np.c_[xr[0] + (xr[1] - xr[0]) * rng.integers(0, w + 1, 500) / w, rng.uniform(*yr, 500)]
    xy = np.r_[rng.uniform(-1.6, 2.4, (20_000, 2)) * [1, 0.5] + [0, 1], edges, borders]
    pix = bigmap.pixels(xy, xr, yr, w, h)
    assert pix.dtype == np.int32 and (pix[-505] == 0) and pix[-504] == w * h - 1 and pix[-501] == w * h
    ref = bigmap.counts(xy, np.zeros(len(xy), int), 1, xr, yr, w, h).values[..., 0]
    np.testing.assert_array_equal(np.bincount(pix, minlength=w * h + 1)[:w * h].reshape(h, w), ref)
    assert 0 < (pix == w * h).sum() < len(xy)


def test_a_selections_picture_equals_the_full_render_pixel_for_pixel(points):
    """highlight (the drawing's counts kept, only the selected points counted) equals rendering every point again
    with the unselected in a grey slot: a lasso's blob, points off a zoomed range, none and all selected."""
    xy, codes = points
    palette = ["#ff0000", "#00ff00", "#0000ff", "#123456"]
    for xr, yr in (bigmap.extent(xy), ((-0.7, 0.9), (1.8, 2.6))):  # the whole map, and zoomed in
        agg = bigmap.counts(xy, codes, 4, xr, yr, 50, 40)
        keyed = bigmap.pixels(xy, xr, yr, 50, 40) * 4 + codes
        base = bigmap.greyed(agg)
        blob = np.hypot(xy[:, 0] - 0.3, xy[:, 1] - 2.2) < 0.6
        for mask in (blob, blob & (codes != 2), np.zeros(len(xy), bool), np.ones(len(xy), bool)):
            full = bigmap.render(xy, np.where(mask, codes, 4), [*palette, bigmap.GREY], xr, yr, 50, 40)
            np.testing.assert_array_equal(bigmap.highlight(base, keyed[mask], palette), full)


def test_lasso_dilation_equals_scipys():
    from scipy.ndimage import binary_dilation

    cells = np.random.default_rng(0).random((64, 48)) < 0.01
    cells[0, 5] = cells[63, 47] = True  # at the border
    np.testing.assert_array_equal(lasso.grow(cells, 2), binary_dilation(cells, np.ones((5, 5), bool)))
