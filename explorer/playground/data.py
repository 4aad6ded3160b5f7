"""The playground's 2-D data: toy sets (moons, circles, spirals, XOR), seeded, and the user's own points."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Points:
    """Labelled points in the plane."""

    x: np.ndarray  # (N, 2) float32
    y: np.ndarray  # (N,) int64 in 0..K-1
    classes: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return len(self.x)


def _spirals(n: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals of 1.5 turns, radius up to 1."""
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.02, 1, n)) * 3 * np.pi  # sqrt: as many points per unit of length along the arm
    x = np.stack([np.cos(t + np.pi * y), np.sin(t + np.pi * y)], 1) * (t / (3 * np.pi))[:, None]
    return x + noise * rng.normal(size=x.shape), y


def _xor(n: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Uniform in [-1, 1]², kept 0.05 off the axes; class 1 where the signs of u and v agree (half the points)."""
    y = np.arange(n) % 2
    mag = rng.uniform(0.05, 1.05, (n, 2))
    su = rng.choice([-1.0, 1.0], n)
    x = mag * np.stack([su, np.where(y == 1, su, -su)], 1)
    return x + noise * rng.normal(size=x.shape), y


TOYS = ("moons", "circles", "spirals", "xor")


def toy(name: str = "moons", n: int = 200, noise: float = 0.1, seed: int = 0) -> Points:
    """A toy set: 'moons' and 'circles' (scikit-learn's make_moons / make_circles), 'spirals', 'xor'."""
    from sklearn.datasets import make_circles, make_moons

    if name not in TOYS:
        raise ValueError(f"unknown toy set {name!r}: choose one of {', '.join(TOYS)} (or your own: points(x, y))")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 4:
        raise ValueError(f"n must be an integer >= 4 (points in the set); got {n!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0; got {noise!r}")
    if name == "moons":
        x, y = make_moons(n, noise=noise, random_state=seed)
    elif name == "circles":
        x, y = make_circles(n, noise=noise, factor=0.5, random_state=seed)
    else:
        x, y = (_spirals if name == "spirals" else _xor)(n, noise, np.random.default_rng(seed))
    return points(x, y, classes=("0", "1"), name=name)


def points(x, y, classes=None, name: str = "your points") -> Points:
    """The user's own 2-D points x (N, 2) with integer labels y (N,) in 0..K-1, K >= 2; a clear error naming x or
    y for anything else (NaN or inf included)."""
    try:
        xs = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"x must be an array of 2-D points, shape (N, 2); got {type(x).__name__} ({err})") from None
    if xs.ndim != 2 or xs.shape[1] != 2 or len(xs) == 0:
        raise ValueError(f"x must be 2-D points of shape (N, 2) with N >= 1; got shape {xs.shape}")
    bad = ~np.isfinite(xs).all(1)
    if bad.any():
        raise ValueError(f"x has NaN or infinite coordinates in {int(bad.sum())} of {len(xs)} points (first: row "
                         f"{int(np.flatnonzero(bad)[0])}): every point must be finite")
    try:
        ys = np.asarray(y, dtype=np.float64).ravel()
    except (TypeError, ValueError) as err:
        raise TypeError(f"y must be integer class labels, one per point; got {type(y).__name__} ({err})") from None
    if len(ys) != len(xs):
        raise ValueError(f"y has {len(ys)} labels but x has {len(xs)} points")
    if not np.isfinite(ys).all() or (ys != np.round(ys)).any() or (ys < 0).any():
        raise ValueError("y must hold integer class labels 0, 1, ..., K-1 (no NaN, inf, fractions or negatives)")
    ys = ys.astype(np.int64)
    k = int(ys.max()) + 1 if classes is None else len(classes)
    if classes is not None and ys.max() >= k:
        raise ValueError(f"y has label {int(ys.max())} but classes names only {k}: {list(classes)}")
    if len(np.unique(ys)) < 2:
        raise ValueError(f"y holds one class only ({int(ys[0])}): a classifier needs points of at least two classes")
    names = tuple(map(str, classes)) if classes is not None else tuple(str(i) for i in range(k))
    return Points(xs.astype(np.float32), ys, names, str(name))
