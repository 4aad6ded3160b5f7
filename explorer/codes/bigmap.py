"""Maps of up to a million points drawn in the kernel: datashader counts each pixel's points per colour and one
image goes to the page (a few hundred KB, whatever the number of points); a hover is a nearest-neighbour lookup
(scipy's cKDTree, in screen pixels), a lasso a point-in-polygon test (lasso.py) and a picture shaded again only where
selected points are (highlight: no new count of all the points), a recolour a new image.

Why not the points themselves in the page: 1,000,000 float32 x, y and colour are 12 MB per drawing, and WebGL
scatter libraries (regl-scatterplot) draw on the CPU in a browser without a GPU. Compute only: no widget here."""
from __future__ import annotations

import numpy as np

CAP = 1_000_000  # points on one map at most: a larger split is sampled (seeded), and the map says so
BIG = 50_000  # above this many points the map is drawn in the kernel; below, bokeh's WebGL scatter (own hover)
GREY = "#d0d0d0"  # the points outside a selection
SLOTS = 16  # colour categories datashader counts at least (see counts)


def capped(n: int, cap: int | None = CAP, seed: int = 0) -> tuple[np.ndarray, str]:
    """(indices, note): all of range(n) and an empty note, or a seeded sorted sample of `cap` of them and a note
    that says what was sampled."""
    if n < 0:
        raise ValueError(f"a map of {n} points")
    if cap is None or n <= cap:
        return np.arange(n), ""
    if cap < 1:
        raise ValueError(f"a map's cap must be at least 1 point; got {cap}")
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False)), sample_note(n, cap, seed)


def sample_note(n: int, cap: int, seed: int = 0) -> str:
    """What a map of at most `cap` of n points says it drew (nothing when it drew all)."""
    return "" if n <= cap else f"{cap:,} of {n:,} points drawn (a seeded sample, seed {seed}: the map's cap is {cap:,})"


def check_points(xy: np.ndarray) -> np.ndarray:
    """(N, 2) float64 coordinates; ValueError naming the problem (shape, NaN or inf)."""
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"map points must be (N, 2); got shape {xy.shape}")
    if not np.isfinite(xy).all():
        raise ValueError(f"map points contain NaN or inf ({int((~np.isfinite(xy)).any(1).sum()):,} of them)")
    return xy


def extent(xy: np.ndarray, margin: float = 0.03) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x_range, y_range) around the points with a margin; a flat axis gets a unit width."""
    lo, hi = xy.min(0), xy.max(0)
    pad = np.where(hi > lo, (hi - lo) * margin, 0.5)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def counts(xy: np.ndarray, codes: np.ndarray, n_codes: int, x_range, y_range, width: int, height: int):
    """datashader's (height, width, n_codes) xarray of point counts per pixel and colour code; row 0 is the lowest
    y (as bokeh's image draws it). Points outside the ranges are not counted."""
    try:
        import datashader as ds
    except ImportError as err:
        raise ImportError(f"maps above {BIG:,} points are drawn by datashader in the kernel: "
                          "pip install 'explorer[bigmap]' (or datashader), or draw fewer points (max_points)") from err
    import pandas as pd

    codes = np.asarray(codes)
    if len(codes) != len(xy):
        raise ValueError(f"{len(codes):,} colour codes for {len(xy):,} points")
    if len(codes) and (codes.min() < 0 or codes.max() >= n_codes):
        raise ValueError(f"colour codes must lie in [0, {n_codes}); got {codes.min()}..{codes.max()}")
    # datashader compiles its aggregation once per number of categories (2.4 s at load 11): counted in SLOTS
    # categories (or the next power of two) and cut to n_codes, a recolour to 2 or 11 colours compiles nothing new
    slots = max(SLOTS, 1 << max(n_codes - 1, 0).bit_length())
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1],
                          "c": pd.Categorical.from_codes(codes.astype(np.int32), categories=range(slots))})
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=tuple(x_range), y_range=tuple(y_range))
    agg = canvas.points(frame, "x", "y", agg=ds.count_cat("c"))
    return agg.isel({agg.dims[2]: slice(0, n_codes)})


def shade(agg, palette, min_alpha: int = 90, top: float | None = None) -> np.ndarray:
    """(height, width) uint32 RGBA (bokeh's image_rgba) of counts (height, width, k): each pixel the mean colour of
    its points, its opacity from min_alpha up by log(1 + count) / top (default: of the largest count). The mix is summed
    in float64, exact for whole numbers below 2**53: a pixel's colour is the same whatever block of the image is
    shaded (see highlight) and in whatever order BLAS adds."""
    counts = np.asarray(getattr(agg, "values", agg))
    h, w, k = counts.shape
    if len(palette) != k or not all(isinstance(c, str) and len(c) == 7 and c[0] == "#" for c in palette):
        raise ValueError(f"a palette of {k} '#rrggbb' colours is needed; got {list(palette)[:4]}...")
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in palette], np.float64)  # (k, 3)
    total = counts.sum(-1, dtype=np.int64)
    mix = (counts.reshape(-1, k).astype(np.float64) @ rgb).reshape(h, w, 3) / np.maximum(total, 1)[..., None]
    top = np.log1p(max(float(total.max(initial=0)), 1.0)) if top is None else top
    alpha = np.where(total > 0, min_alpha + (255 - min_alpha) * np.log1p(total) / top, 0)
    rgba = np.ascontiguousarray(np.dstack([mix, alpha]).round().clip(0, 255).astype(np.uint8))
    return rgba.view(np.uint32).reshape(h, w)


def render(xy, codes, palette, x_range, y_range, width: int, height: int) -> np.ndarray:
    """The map's picture: (height, width) uint32 RGBA of the points coloured by palette[code]."""
    return shade(counts(xy, codes, len(palette), x_range, y_range, width, height), palette)


def pixels(xy: np.ndarray, x_range, y_range, width: int, height: int) -> np.ndarray:
    """int32 pixel of each point as datashader's Canvas.points bins it (row * width + column, row 0 the lowest y;
    width * height off the ranges): int(x * s + t) with s = width / (x1 - x0), t = -x0 * s, the far edge in the
    last pixel. A selection's keys for highlight: pixels * k + colour code."""
    out = []
    for v, (v0, v1), n in ((xy[:, 0], x_range, width), (xy[:, 1], y_range, height)):
        s = n / (v1 - v0)
        out.append((np.minimum((v * s + -v0 * s).astype(np.int64), n - 1), (v >= v0) & (v <= v1)))
    (col, okx), (row, oky) = out
    return np.where(okx & oky, row * width + col, width * height).astype(np.int32)


def greyed(agg) -> tuple[np.ndarray, float, np.ndarray]:
    """(points per pixel, the opacity's top, the picture with every point grey) of counts agg (height, width, k):
    what highlight reuses for every selection of one drawing."""
    total = np.asarray(getattr(agg, "values", agg)).sum(-1, dtype=np.int64)
    top = float(np.log1p(max(float(total.max(initial=0)), 1.0)))
    return total, top, shade(total[..., None], [GREY], top=top)


def highlight(base, keys: np.ndarray, palette) -> np.ndarray:
    """The picture of a selection: render(all points, their code where selected else a grey one, [*palette, GREY])
    pixel for pixel, from base = greyed(counts of all the points) and the selected points' keys alone (pixels * k
    + code, k = len(palette); a key past width * height * k, off the ranges, is not counted): only the box of
    pixels holding a selected point is shaded again, its colours mixed with the grey of the unselected."""
    total, top, grey = base
    (h, w), k = total.shape, len(palette)
    chosen = np.bincount(keys, minlength=h * w * k + 1)[:h * w * k].reshape(h, w, k)
    picked = np.bincount(keys // k, minlength=h * w + 1)[:h * w].reshape(h, w)  # selected points per pixel
    out, rows, cols = grey.copy(), np.flatnonzero(picked.any(1)), np.flatnonzero(picked.any(0))
    if not len(rows):
        return out
    r, c = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)  # the selection's pixels' box
    rest = total[r, c] - picked[r, c]
    out[r, c] = shade(np.concatenate([chosen[r, c], rest[..., None]], -1), [*palette, GREY], top=top)
    return out


def pixel_scale(x_range, y_range, width: int, height: int) -> np.ndarray:
    """Pixels per data unit along x and y."""
    return np.array([width / (x_range[1] - x_range[0]), height / (y_range[1] - y_range[0])])


def screen_tree(xy: np.ndarray, scale: np.ndarray):
    """A cKDTree of the points in screen pixels (scale from pixel_scale): a wheel zoom scales both axes alike,
    so the nearest point in these units is the nearest on screen at any zoom."""
    from scipy.spatial import cKDTree

    return cKDTree(xy * scale)


def nearest(tree, scale: np.ndarray, x: float, y: float, radius: float = np.inf) -> int | None:
    """Index of the point nearest (x, y) on screen, or None when none lies within `radius` pixels (of the
    scale the tree was built at)."""
    d, i = tree.query(np.array([x, y]) * scale, distance_upper_bound=radius)
    return None if not np.isfinite(d) else int(i)
