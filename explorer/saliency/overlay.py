"""Heat-map overlays in numpy: colormaps as 256-entry lookup tables from anchor colours (no matplotlib, no cv2)."""
from __future__ import annotations

import numpy as np

# Anchor colours (RGB in [0, 1]) at evenly spaced positions; interpolated linearly to 256 entries.
ANCHORS = {
    "jet": [(0, 0, .5), (0, 0, 1), (0, .5, 1), (0, 1, 1), (.5, 1, .5), (1, 1, 0), (1, .5, 0), (1, 0, 0), (.5, 0, 0)],
    "viridis": [(.267, .005, .329), (.283, .141, .458), (.254, .265, .530), (.207, .372, .553), (.164, .471, .558),
                (.128, .567, .551), (.135, .659, .518), (.267, .749, .441), (.478, .821, .318), (.741, .873, .150),
                (.993, .906, .144)],
    "inferno": [(.001, .000, .014), (.087, .045, .225), (.258, .039, .406), (.416, .090, .433), (.578, .148, .404),
                (.735, .216, .330), (.865, .317, .226), (.954, .469, .099), (.988, .645, .040), (.964, .837, .203),
                (.988, .998, .645)],
    "gray": [(0, 0, 0), (1, 1, 1)],
    "hot": [(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1)],
}
COLORMAPS = tuple(ANCHORS)
_LUTS: dict[str, np.ndarray] = {}


def colormap(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a colormap by name."""
    if name not in ANCHORS:
        raise KeyError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    if name not in _LUTS:
        a = np.asarray(ANCHORS[name], dtype=np.float64)
        pos, t = np.linspace(0, 1, len(a)), np.linspace(0, 1, 256)
        _LUTS[name] = (np.stack([np.interp(t, pos, a[:, c]) for c in range(3)], 1) * 255 + 0.5).astype(np.uint8)
    return _LUTS[name]


def _resize(cam: np.ndarray, shape) -> np.ndarray:
    """Bilinear resize of a float map to (H, W) with PIL (half-pixel centres)."""
    from PIL import Image

    return np.asarray(Image.fromarray(cam.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BILINEAR))


def overlay(image: np.ndarray, cam, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """uint8 image (H, W) or (H, W, 3) blended with a [0, 1] map coloured by cmap: (1 - alpha) image + alpha colour."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W) or (H, W, 3); got dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, 2)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"image must be uint8 (H, W) or (H, W, 3); got shape {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, 2)
    m = np.asarray(cam.detach().cpu() if hasattr(cam, "detach") else cam, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"cam must be one (H, W) map; got shape {m.shape}")
    if m.shape != img.shape[:2]:
        m = _resize(m, img.shape[:2])
    colour = colormap(cmap)[(np.nan_to_num(m).clip(0, 1) * 255 + 0.5).astype(np.uint8)]
    out = img.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha
    return (out + 0.5).astype(np.uint8)
