"""Maps of up to a million points drawn in the kernel: datashader counts each pixel's points per colour and one
image goes to the page (a few hundred KB, whatever the number of points); a hover is a nearest-neighbour lookup
(scipy's cKDTree, in screen pixels), a lasso a point-in-polygon test (matplotlib's Path), a recolour a new image.

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


def shade(agg, palette, min_alpha: int = 90) -> np.ndarray:
    """(height, width) uint32 RGBA (bokeh's image_rgba) of counts (height, width, k): each pixel the mean colour of
    its points, its opacity from min_alpha up by log(1 + count). numpy (datashader's own categorical shading took
    about 100 ms of a recolour at 1,000,000 points, this about 10)."""
    counts = np.asarray(getattr(agg, "values", agg), dtype=np.float32)
    h, w, k = counts.shape
    if len(palette) != k or not all(isinstance(c, str) and len(c) == 7 and c[0] == "#" for c in palette):
        raise ValueError(f"a palette of {k} '#rrggbb' colours is needed; got {list(palette)[:4]}...")
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in palette], np.float32)  # (k, 3)
    total = counts.sum(-1)
    mix = (counts.reshape(-1, k) @ rgb).reshape(h, w, 3) / np.maximum(total, 1)[..., None]
    top = np.log1p(max(float(total.max()), 1.0))
    alpha = np.where(total > 0, min_alpha + (255 - min_alpha) * np.log1p(total) / top, 0)
    rgba = np.ascontiguousarray(np.dstack([mix, alpha]).round().clip(0, 255).astype(np.uint8))
    return rgba.view(np.uint32).reshape(h, w)


def render(xy, codes, palette, x_range, y_range, width: int, height: int) -> np.ndarray:
    """The map's picture: (height, width) uint32 RGBA of the points coloured by palette[code]."""
    return shade(counts(xy, codes, len(palette), x_range, y_range, width, height), palette)


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


LASSO_GRID = 512  # cells a side of the lasso's raster: points in cells the outline crosses get the exact test


def inside(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Boolean mask of the points inside the polygon (xs, ys) (a lasso; closed for you): matplotlib's even-odd
    test, exact, but run only where it can differ. The polygon's bounding box is cut into a grid; a cell that no
    edge crosses lies wholly inside or outside, so its points take the answer of PIL's even-odd scanline
    fill; the points of cells near the outline (drawn, then widened by two cells) are tested one by one."""
    from matplotlib.path import Path
    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_dilation
    from skimage.draw import polygon_perimeter

    poly = np.c_[np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)]
    if len(poly) < 3 or not np.isfinite(poly).all():
        raise ValueError(f"a lasso needs at least 3 finite vertices; got {len(poly)}")
    lo, hi = poly.min(0), poly.max(0)
    box = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    mask = np.zeros(len(xy), bool)
    g, span = LASSO_GRID, np.maximum(hi - lo, 1e-300)
    if len(box) < 4 * g or (hi - lo).min() <= 0:  # few points (or a flat lasso): the exact test on all of them
        mask[box] = Path(poly).contains_points(xy[box])
        return mask
    # cell (i, j) covers [i, i + 1) x [j, j + 1) in u = (xy - lo) / span * g. Cells no edge crosses: the filled
    # raster's answer (PIL's even-odd scanline fill; which cell a centre falls in matters only within the band)
    u = (poly - lo) / span * g
    canvas = Image.new("1", (g, g), 0)
    ImageDraw.Draw(canvas).polygon([(float(a), float(b)) for b, a in u], fill=1)  # PIL's (x, y): column, row
    filled = np.asarray(canvas, dtype=bool)
    edge = np.zeros((g, g), bool)
    edge[polygon_perimeter(np.floor(u[:, 0]), np.floor(u[:, 1]), (g, g), clip=True)] = True
    edge = binary_dilation(edge, np.ones((5, 5), bool))  # every cell an edge passes through, with room to spare
    # float32 cells: a point put in the cell next to its own is near their common side, and two neighbours that
    # no edge crosses have the same answer
    cell = np.clip(((xy[box] - lo.astype(np.float32)) * (g / span).astype(np.float32)).astype(np.int32), 0, g - 1)
    near = edge[cell[:, 0], cell[:, 1]]
    mask[box] = filled[cell[:, 0], cell[:, 1]]
    mask[box[near]] = Path(poly).contains_points(xy[box[near]].astype(np.float64))
    return mask
