"""Image folders (torchvision's ImageFolder layout): any sizes and modes read as the model's RGB inputs."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from .imageset import ImageSet, from_arrays


def _rgb(im):
    """A PIL image as 8-bit RGB: transparency composited on white, 16-bit grey scaled (not clipped) to 8 bits."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im, dtype=np.float64)
        a = a / 257.0 if a.max() > 255 else a  # 16-bit samples: 65535 -> 255
        im = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def read_image(path, size: int, resize: int | None = None) -> np.ndarray:
    """One image file as (size, size, 3) uint8 RGB: EXIF rotation applied, shorter side resized to `resize`
    (default: size, bilinear with antialiasing, as torchvision's transforms on PIL), centre crop; a ValueError that
    names the file if it cannot be read."""
    import torchvision.transforms.functional as TF
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = _rgb(ImageOps.exif_transpose(im))  # loads the pixels: a truncated file fails here
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    im = TF.resize(im, resize or size, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return np.array(TF.center_crop(im, size))  # a writable copy


def _folder_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices, stratified when every class can be in both splits."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if len(y) < 2:
        raise ValueError(f"an image folder needs at least 2 images for a train and a test split; found {len(y)}")
    try:
        return tuple(train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=y))
    except ValueError:  # a class with one image, or fewer test images than classes
        return tuple(train_test_split(idx, test_size=test_fraction, random_state=seed))


def image_folder(root: str | os.PathLike, size: int = 32, test_fraction: float = 0.2, seed: int = 0,
                 resize: int | None = None, mean=None, std=None, weights: str | None = None,
                 display_size: int | None = None, limit: int | None = None) -> ImageSet:
    """Images in class sub-folders (torchvision ImageFolder layout), any sizes and modes, as size x size RGB.

    Each image: EXIF rotation, grey / RGBA / palette / 16-bit converted to RGB (transparency on white), shorter
    side resized to `resize` (default size), centre crop to size. weights= (a torchvision model name such as
    'resnet18', or 'timm:NAME') takes size, resize, mean and std from those pretrained weights' transforms; mean=
    and std= set the normalisation. display_size keeps the same crops at that size for overlays
    (ImageSet.display). limit caps the images per class (a seeded sample). A file that cannot be read is a
    ValueError naming it.
    """
    from torchvision.datasets import ImageFolder

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    try:
        ds = ImageFolder(str(root))
    except (FileNotFoundError, RuntimeError) as err:
        raise FileNotFoundError(f"{root} has no images in class sub-folders ({err})") from err
    if weights is not None:
        from ..models import pretrained_preset

        preset = pretrained_preset(weights)
        size, resize = preset["size"], resize or preset["resize"]
        mean, std = mean if mean is not None else preset["mean"], std if std is not None else preset["std"]
    samples = ds.samples
    if limit is not None:
        rng = np.random.default_rng(seed)
        by_class = [[s for s in samples if s[1] == c] for c in range(len(ds.classes))]
        samples = sorted(s for group in by_class for s in
                         (group if len(group) <= limit else [group[i] for i in rng.choice(len(group), limit, False)]))
    y = np.array([t for _, t in samples], dtype=np.int64)
    x = np.stack([read_image(p, size, resize) for p, _ in samples])
    shown = None
    if display_size is not None and display_size != size:
        scale = display_size / size
        shown = np.stack([read_image(p, display_size, round((resize or size) * scale)) for p, _ in samples])
    itr, ite = _folder_split(y, test_fraction, seed)
    data_stats = "data" in (mean, std)  # the train split's own statistics, as from_arrays computes them
    s = from_arrays(x[itr], y[itr], x[ite], y[ite], classes=ds.classes, name=root.name,
                    **({"mean": mean, "std": std} if data_stats else {}))
    changes = {}
    if (mean is not None or std is not None) and not data_stats:
        c = s.shape[0]
        changes["mean"] = tuple(float(v) for v in (mean if mean is not None else (0.0,) * c))
        changes["std"] = tuple(float(v) for v in (std if std is not None else (1.0,) * c))
        if len(changes["mean"]) != c or len(changes["std"]) != c or min(changes["std"]) <= 0:
            raise ValueError(f"mean and std need {c} values each, std > 0; got mean={mean}, std={std}")
    if shown is not None:
        changes["shown"] = {"train": shown[itr], "test": shown[ite]}
    return dataclasses.replace(s, **changes) if changes else s
