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


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's


class FolderWarning(UserWarning):
    """An image folder's files were skipped, or the same file content is in both splits."""


def read_image(path, size: int, resize: int | None = None) -> np.ndarray:
    """One image file as (size, size, 3) uint8 RGB: EXIF rotation applied, shorter side resized to `resize`
    (default: size, bilinear with antialiasing, as torchvision's transforms on PIL), centre crop; a ValueError that
    names the file if it cannot be read (also a decompression bomb: an image of over 2 x PIL's MAX_IMAGE_PIXELS)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    return _decode(data, path, size, resize)


def _decode(data: bytes, path, size: int, resize: int | None) -> np.ndarray:
    """read_image on a file's bytes; every failure is a ValueError naming the file."""
    import io
    import warnings

    import torchvision.transforms.functional as TF
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im = _rgb(ImageOps.exif_transpose(im))  # loads the pixels: a truncated file fails here
        for w in caught:  # PIL's own warning does not say which file
            warnings.warn(f"{path}: {w.message}", w.category, stacklevel=3)
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path} is too large to decode safely (PIL's decompression-bomb guard: {err}); shrink "
                         f"the image, or if you trust it set PIL.Image.MAX_IMAGE_PIXELS = None first") from err
    except Image.UnidentifiedImageError as err:
        raise ValueError(f"cannot read image {path}: not an image file PIL can identify") from err
    except Exception as err:  # noqa: BLE001 - any decoder failure, re-raised naming the file
        raise ValueError(f"cannot read image {path}: {type(err).__name__}: {err}") from err
    im = TF.resize(im, resize or size, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return np.array(TF.center_crop(im, size))  # a writable copy


def _hidden(name: str) -> bool:
    """A hidden entry (.ipynb_checkpoints, .DS_Store, ._photo.jpg): never a class or an image."""
    return name.startswith(".")


def _scan(root: Path) -> tuple[list[str], list[tuple[str, int]], dict[str, str]]:
    """(classes, [(file, class index)], {skipped path: why}) under root: hidden entries ignored, a link followed
    only to a file or folder inside root that is read nowhere else (no loops, no copies, nothing outside)."""
    real_root = root.resolve()
    skipped: dict[str, str] = {}
    seen: dict[Path, str] = {}  # real path -> the path it was read as
    found: list[tuple[str, str, int]] = []  # (folder, file name, class): sorted as torchvision's ImageFolder
    links: list[tuple[os.DirEntry, int]] = []  # pass 1 reads real entries only, so a link never takes a file
    # from the class it really is in; pass 2 follows the links

    def entries(folder: Path) -> list[os.DirEntry]:
        try:
            return sorted((e for e in os.scandir(folder) if not _hidden(e.name)), key=lambda e: e.name)
        except OSError as err:
            skipped[str(folder)] = f"folder cannot be listed: {err}"
            return []

    def take(e: os.DirEntry, real: Path, c: int) -> None:
        seen[real] = e.path
        if e.is_dir():
            for child in entries(Path(e.path)):
                if child.is_symlink():
                    links.append((child, c))
                else:
                    take(child, real / child.name, c)
        elif not e.is_file():
            skipped[e.path] = "not a regular file"
        elif Path(e.name).suffix.lower() not in IMAGE_SUFFIXES:
            skipped[e.path] = f"unsupported format {Path(e.name).suffix or '(no suffix)'} (read: " \
                              f"{' '.join(IMAGE_SUFFIXES)})"
        else:
            found.append((str(Path(e.path).parent), e.name, c))

    top = entries(root)
    classes = []
    for e in top:
        if e.is_dir():
            if e.is_symlink():
                links.append((e, len(classes)))
            else:
                take(e, real_root / e.name, len(classes))
            classes.append(e.name)
        elif Path(e.name).suffix.lower() in IMAGE_SUFFIXES:
            skipped[e.path] = "not in a class sub-folder"
    while links:
        e, c = links.pop(0)
        try:
            real = Path(e.path).resolve(strict=True)
        except (OSError, RuntimeError):  # a broken link, or a loop of links
            skipped[e.path] = "a broken link"
            continue
        if real != real_root and real_root not in real.parents:
            skipped[e.path] = f"a link out of {root} (to {real}): not followed"
        elif real == real_root or real in seen:
            to = os.path.relpath(seen[real], root) if real in seen else "the image folder itself (a loop)"
            skipped[e.path] = f"a link to {to}, already read"
        else:
            take(e, real, c)
    return classes, [(os.path.join(d, f), c) for d, f, c in sorted(found)], skipped


def _report(skipped: dict[str, str], root: Path) -> None:
    """One warning for the skipped files: their count and the first few with the reason."""
    import warnings

    if skipped:
        first = "; ".join(f"{os.path.relpath(p, root)}: {why}" for p, why in sorted(skipped.items())[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(f"{len(skipped)} files or folders in {root} were not loaded ({first}{more}); the ImageSet's "
                      f".skipped lists them all", FolderWarning, stacklevel=3)


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
                 display_size: int | None = None, limit: int | None = None, duplicates: str = "warn") -> ImageSet:
    """Images in class sub-folders (torchvision ImageFolder layout), any sizes and modes, as size x size RGB.

    Each image: EXIF rotation, grey / RGBA / palette / 16-bit converted to RGB (transparency on white), shorter
    side resized to `resize` (default size), centre crop to size. weights= (a torchvision model name such as
    'resnet18', or 'timm:NAME') takes size, resize, mean and std from those pretrained weights' transforms; mean=
    and std= set the normalisation. display_size keeps the same crops at that size for overlays
    (ImageSet.display). limit caps the images per class (a seeded sample).

    Hidden files and folders (.ipynb_checkpoints) are ignored; a link is followed only to a file or folder inside
    root that is read nowhere else. Files not loaded (other formats such as .gif, unreadable files, links out of
    root or to what was read already) are in the ImageSet's .skipped ({path: why}) and one FolderWarning. Files
    with the same bytes in train and test are in .duplicates ([(train file, test file)]) and a FolderWarning;
    duplicates="drop" keeps only the first file (in path order) of each content before the split. A decompression
    bomb is a ValueError naming the file.
    """
    import hashlib

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if duplicates not in ("warn", "drop"):
        raise ValueError(f"duplicates must be 'warn' (keep them, say so) or 'drop' (keep one per content); "
                         f"got {duplicates!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None or an integer >= 1 (images per class); got {limit!r}")
    classes, samples, skipped = _scan(root)
    if not classes:
        raise FileNotFoundError(f"{root} has no class sub-folders: put each class's images in a folder of its own "
                                f"(root/cat/1.png, root/dog/2.png)")
    if weights is not None:
        from ..models import pretrained_preset

        preset = pretrained_preset(weights)
        size, resize = preset["size"], resize or preset["resize"]
        mean, std = mean if mean is not None else preset["mean"], std if std is not None else preset["std"]
    if limit is not None:
        rng = np.random.default_rng(seed)
        by_class = [[s for s in samples if s[1] == c] for c in range(len(classes))]
        samples = sorted(s for group in by_class for s in
                         (group if len(group) <= limit else [group[i] for i in rng.choice(len(group), limit, False)]))
    images, kept, first = [], [], {}  # first: content hash -> the first file with it
    for path, c in samples:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            skipped[path] = f"cannot be read: {err}"
            continue
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if duplicates == "drop" and digest in first:
            if first[digest][1] != c:
                raise ValueError(f"{first[digest][0]} ({classes[first[digest][1]]}) and {path} ({classes[c]}) have "
                                 f"the same bytes but different classes: remove the wrong one")
            skipped[path] = f"the same bytes as {os.path.relpath(first[digest][0], root)} (duplicates='drop')"
            continue
        try:
            images.append(_decode(data, path, size, resize))
        except ValueError as err:
            if isinstance(err.__cause__, _bomb()):
                raise
            skipped[path] = str(err).removeprefix(f"cannot read image {path}: ")
            continue
        first.setdefault(digest, (path, c))
        kept.append((path, c, digest))
    empty = [name for c, name in enumerate(classes) if not any(k[1] == c for k in kept)]
    if empty:
        why = [f"{os.path.relpath(p, root)}: {w}" for p, w in skipped.items()
               if any(Path(p).is_relative_to(root / n) for n in empty)][:3]
        raise FileNotFoundError(f"class folder(s) {', '.join(empty)} in {root} have no readable images "
                                f"({'; '.join(why) or 'empty'}): add images or remove the folder")
    y = np.array([c for _, c, _ in kept], dtype=np.int64)
    x = np.stack(images)
    shown = None
    if display_size is not None and display_size != size:
        scale = display_size / size
        shown = np.stack([read_image(p, display_size, round((resize or size) * scale)) for p, _, _ in kept])
    itr, ite = _folder_split(y, test_fraction, seed)
    in_train = {}
    for i in itr:
        in_train.setdefault(kept[i][2], kept[i][0])
    pairs = [(in_train[kept[i][2]], kept[i][0]) for i in ite if kept[i][2] in in_train]
    data_stats = "data" in (mean, std)  # the train split's own statistics, as from_arrays computes them
    s = from_arrays(x[itr], y[itr], x[ite], y[ite], classes=classes, name=root.name,
                    **({"mean": mean, "std": std} if data_stats else {}))
    changes = {"skipped": skipped, "duplicates": pairs}
    if (mean is not None or std is not None) and not data_stats:
        c = s.shape[0]
        changes["mean"] = tuple(float(v) for v in (mean if mean is not None else (0.0,) * c))
        changes["std"] = tuple(float(v) for v in (std if std is not None else (1.0,) * c))
        if len(changes["mean"]) != c or len(changes["std"]) != c or min(changes["std"]) <= 0:
            raise ValueError(f"mean and std need {c} values each, std > 0; got mean={mean}, std={std}")
    if shown is not None:
        changes["shown"] = {"train": shown[itr], "test": shown[ite]}
    _report(skipped, root)
    if pairs:
        import warnings

        names = "; ".join(f"{os.path.relpath(a, root)} = {os.path.relpath(b, root)}" for a, b in pairs[:3])
        warnings.warn(f"{len(pairs)} test images of {root} have the same bytes as train images ({names}"
                      f"{' ...' if len(pairs) > 3 else ''}), so the test accuracy overstates: pass "
                      f"duplicates='drop' to keep one of each; the ImageSet's .duplicates lists them", FolderWarning,
                      stacklevel=2)
    return dataclasses.replace(s, **changes)


def _bomb() -> type:
    """PIL's decompression-bomb error class."""
    from PIL import Image

    return Image.DecompressionBombError
