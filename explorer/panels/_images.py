"""PNG encoding of the panels' pictures: sharp enlargement of small images, smooth shrinking of photos."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png(image: np.ndarray, scale: int = 1) -> bytes:
    """uint8 (H, W, 3) or (H, W) array -> PNG bytes, enlarged `scale` times with sharp (nearest) pixels."""
    im = Image.fromarray(np.ascontiguousarray(image))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)  # level 1: several times faster than the default, ~same size
    return buf.getvalue()


def display_scale(height: int, target: int = 96) -> int:
    """An integer enlargement that brings an image of this height near `target` pixels."""
    return max(1, round(target / max(height, 1)))


def fitted_png(image: np.ndarray, target: int = 96) -> bytes:
    """PNG of an image at most `target` pixels high: small ones enlarged by a whole factor (sharp pixels), photos
    larger than that shrunk smoothly (a 160-pixel photo in a 96-pixel gallery cell)."""
    h = image.shape[0]
    if h <= target:
        return png(image, max(1, target // max(h, 1)))
    im = Image.fromarray(np.ascontiguousarray(image))
    return png(np.asarray(im.resize((max(1, round(im.width * target / h)), target), Image.LANCZOS)))


def thumbnails(data, split: str, indices, size: int = 56) -> list[str]:
    """base64 PNG data URLs of images of a split (about `size` pixels high): the codes map's hover and selection."""
    from ..data import to_uint8

    imgs = to_uint8(data.images(split)[np.asarray(indices, int)])
    scale = display_scale(imgs.shape[1], size)
    return ["data:image/png;base64," + base64.b64encode(png(im, scale)).decode() for im in imgs]
