"""A folder of generated photos, circles and squares, for demos and tests that need an image folder offline."""
from __future__ import annotations

import os
from pathlib import Path


def shapes_folder(root: str | os.PathLike, per_class: int = 64, seed: int = 0) -> Path:
    """Write root/circle/*.{png,jpg} and root/square/*: one bright shape on a dark background a photo, every photo
    its own size (60 to 199 pixels a side), the shape inside the centre square image_folder crops, a quarter grey,
    half JPEG. Returns root."""
    import numpy as np
    from PIL import Image, ImageDraw

    if per_class < 1:
        raise ValueError(f"per_class must be at least 1; got {per_class}")
    root, rng = Path(root), np.random.default_rng(seed)
    for label in ("circle", "square"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = (int(v) for v in rng.integers(60, 200, size=2))
            im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 80, 3)))
            s = min(w, h)
            r = int(s * rng.uniform(0.15, 0.3))
            cx = w // 2 + int(rng.integers(-(s // 2 - r), s // 2 - r + 1))
            cy = h // 2 + int(rng.integers(-(s // 2 - r), s // 2 - r + 1))
            draw = ImageDraw.Draw(im)
            (draw.ellipse if label == "circle" else draw.rectangle)(
                (cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.integers(150, 256, 3)))
            (im.convert("L") if i % 4 == 0 else im).save(root / label / f"{i}.{'jpg' if i % 2 else 'png'}")
    return root
