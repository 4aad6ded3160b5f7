"""A folder of generated photos, circles and squares, for demos and tests that need an image folder offline."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

MODES = ("RGB", "L", "RGBA")  # colour, grey, translucent colour (alpha 200: image_folder composites it on white)
FORMATS = ("png", "jpg")


def shapes_folder(root: str | os.PathLike, per_class: int = 64, seed: int = 0,
                  modes: Sequence[str] = ("L", "RGB", "RGB", "RGB"), formats: Sequence[str] = ("png", "jpg")) -> Path:
    """Write root/circle/* and root/square/*: one bright shape on a dark background a photo, every photo its own size
    (60 to 199 pixels a side), the shape inside the centre square image_folder crops. Photo i of a class has mode
    modes[i % len(modes)] (by default a quarter grey) and file type formats[i % len(formats)] (by default half JPEG;
    an RGBA photo is always PNG: JPEG has no alpha). Returns root."""
    import numpy as np
    from PIL import Image, ImageDraw

    if per_class < 1:
        raise ValueError(f"per_class must be at least 1; got {per_class}")
    for name, given, known in (("modes", modes, MODES), ("formats", formats, FORMATS)):
        if isinstance(given, str) or not given or any(v not in known for v in given):
            raise ValueError(f"{name} must be a non-empty sequence of {known}; got {given!r}")
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
            mode, kind = modes[i % len(modes)], formats[i % len(formats)]
            if mode == "RGBA":
                im.putalpha(200)
                kind = "png"
            elif mode != "RGB":
                im = im.convert(mode)
            im.save(root / label / f"{i}.{kind}")
    return root
