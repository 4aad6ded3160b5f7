"""Image datasets: images for display, normalised tensors for the model, labels, class names."""
from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SPLITS = ("train", "test")


@dataclass(eq=False)
class ImageSet:
    """Images in [0, 1] as (N, C, H, W) float32 per split, int64 labels, class names, normalisation."""

    name: str
    x: dict[str, torch.Tensor]  # split -> (N, C, H, W) in [0, 1]
    y: dict[str, torch.Tensor]  # split -> (N,) int64
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # split -> (N, H, W) bool, known evidence
    shown: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (N, H', W', 3) uint8 photos, if kept

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(next(iter(self.x.values())).shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def _split(self, split: str) -> str:
        if split not in self.x:
            raise KeyError(f"dataset {self.name!r} has no split {split!r}; choose one of {sorted(self.x)}")
        return split

    def images(self, split: str = "test") -> torch.Tensor:
        """Display images of a split, (N, C, H, W) in [0, 1]."""
        return self.x[self._split(split)]

    def display(self, split: str = "test") -> np.ndarray:
        """Photos to draw overlays on, (N, H', W', 3) uint8 RGB: the image folder's own crops when kept (at
        display_size), else the images as the model sees them before normalisation."""
        return self.shown[split] if split in self.shown else to_uint8(self.images(split))

    def labels(self, split: str = "test") -> torch.Tensor:
        """Labels of a split, (N,) int64."""
        return self.y[self._split(split)]

    def inputs(self, split: str = "test") -> torch.Tensor:
        """Model inputs of a split: normalised images (N, C, H, W)."""
        return self.normalize(self.images(split))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / std per channel."""
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return (x - m) / s

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of normalize: model inputs back to [0, 1] images."""
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return x * s + m

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.x.items())
        return f"ImageSet({self.name!r}, {sizes}, shape={self.shape}, classes={self.n_classes})"


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, H, W, 3) uint8 RGB for display."""
    x = images.detach().float().clamp(0, 1).cpu()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (x.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of (N, C, H, W) images."""
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def _as_images(x, what: str) -> torch.Tensor:
    """Arrays of shape (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3} -> float (N, C, H, W)."""
    t = torch.as_tensor(np.asarray(x))
    if t.ndim == 3:
        t = t[:, None]
    elif t.ndim == 4 and t.shape[1] not in (1, 3) and t.shape[3] in (1, 3):
        t = t.permute(0, 3, 1, 2)
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError(
            f"{what} must have shape (N, H, W), (N, C, H, W) or (N, H, W, C) with C = 1 or 3; got {tuple(t.shape)}"
        )
    integer = not t.is_floating_point()
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    if t.numel() and (integer or t.max() > 1.0):  # 0..255 pixel values
        if t.min() < 0 or t.max() > 255:
            raise ValueError(f"{what} must hold pixel values in [0, 1] or [0, 255]; found {t.min():g}..{t.max():g}")
        t = t / 255.0
    return t.contiguous()


def _as_labels(y, n: int, n_classes: int | None, what: str) -> torch.Tensor:
    """Integer labels of length n, each in [0, n_classes)."""
    t = torch.as_tensor(np.asarray(y))
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"{what} must be a 1-D array of {n} labels; got shape {tuple(t.shape)}")
    if t.is_floating_point() and not torch.equal(t, t.round()):
        raise ValueError(f"{what} must be integer class indices")
    t = t.long()
    if len(t) and (t.min() < 0 or (n_classes is not None and t.max() >= n_classes)):
        hi = n_classes - 1 if n_classes is not None else "n_classes - 1"
        raise ValueError(f"{what} out of range: found {int(t.min())}..{int(t.max())}, valid labels are 0..{hi}")
    return t


def from_arrays(x_train, y_train, x_test=None, y_test=None, classes=None, name="arrays",
                test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
    """An ImageSet from the user's tensors or arrays; without a test split, a seeded stratified one is held out."""
    xtr = _as_images(x_train, "x_train")
    n_classes = len(classes) if classes is not None else None
    ytr = _as_labels(y_train, len(xtr), n_classes, "y_train")
    if x_test is None:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(xtr))
        strat = ytr.numpy() if np.bincount(ytr.numpy()).min() >= 2 else None
        itr, ite = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=strat)
        xtr, xte, ytr, yte = xtr[itr], xtr[ite], ytr[itr], ytr[ite]
    else:
        xte = _as_images(x_test, "x_test")
        yte = _as_labels(y_test, len(xte), n_classes, "y_test")
        if xte.shape[1:] != xtr.shape[1:]:
            raise ValueError(f"x_test images are {tuple(xte.shape[1:])} but x_train images are {tuple(xtr.shape[1:])}")
    if classes is None:
        classes = [str(c) for c in range(int(max(ytr.max(), yte.max())) + 1)]
    mean, std = _stats(xtr)
    return ImageSet(name, {"train": xtr, "test": xte}, {"train": ytr, "test": yte}, tuple(map(str, classes)), mean, std)


def _upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear upsampling by an integer factor (1 leaves x as is)."""
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"upsample must be a positive integer; got {factor!r}")
    return x if factor == 1 else F.interpolate(x, scale_factor=int(factor), mode="bilinear", align_corners=False)


def digits(upsample: int = 1, seed: int = 0) -> ImageSet:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), a seeded stratified 75/25 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = _upsample(torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0, upsample)
    s = from_arrays(x, d.target, classes=[str(c) for c in d.target_names], name="digits",
                    test_fraction=0.25, seed=seed)
    return s


def _null_block(size: int) -> torch.Tensor:
    """The class-independent 'null' patch of BlockMNIST: a hollow square, identical in every image."""
    block = torch.zeros(size, size)
    a, b = size // 4, size - size // 4 - 1
    block[a, a:b + 1] = block[b, a:b + 1] = block[a:b + 1, a] = block[a:b + 1, b] = 0.8
    return block


def block_digits(upsample: int = 1, seed: int = 0) -> ImageSet:
    """BlockMNIST-style digits: the digit (signal) and a null block stacked vertically in random order.

    `masks[split]` is True on the signal block, the only discriminative region.
    """
    base = digits(upsample=upsample, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    x, m = {}, {}
    for split in SPLITS:
        sig = base.x[split]  # (N, 1, s, s)
        n, _, s, _ = sig.shape
        null = _null_block(s).expand(n, 1, s, s)
        top = torch.rand(n, generator=gen) < 0.5  # signal on top for these
        upper = torch.where(top.view(-1, 1, 1, 1), sig, null)
        lower = torch.where(top.view(-1, 1, 1, 1), null, sig)
        x[split] = torch.cat([upper, lower], dim=2).contiguous()  # (N, 1, 2s, s)
        mask = torch.zeros(n, 2 * s, s, dtype=torch.bool)
        mask[top, :s] = True
        mask[~top, s:] = True
        m[split] = mask
    mean, std = _stats(x["train"])
    return ImageSet("block-digits", x, dict(base.y), base.classes, mean, std, m)


TORCHVISION_SETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def data_root() -> Path:
    """Where torchvision datasets live: $EXPLORER_DATA or ~/.cache/explorer/data."""
    return Path(os.environ.get("EXPLORER_DATA", Path.home() / ".cache" / "explorer" / "data"))


def torchvision_set(name: str, root: str | os.PathLike | None = None, download: bool = False,
                    limit: int | None = None) -> ImageSet:
    """MNIST, Fashion-MNIST or CIFAR-10 from a folder in torchvision's layout; downloads only if asked."""
    if name not in TORCHVISION_SETS:
        raise KeyError(f"unknown torchvision dataset {name!r}; choose one of {sorted(TORCHVISION_SETS)}")
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_SETS[name])
    root = Path(root) if root is not None else data_root()
    splits = {}
    for split in SPLITS:
        try:
            splits[split] = cls(str(root), train=(split == "train"), download=download)
        except RuntimeError as err:
            if download:
                raise ConnectionError(
                    f"could not download {name} to {root}: {err}. There seems to be no network; copy the files "
                    f"in torchvision's layout into {root}/{cls.__name__}/ or use the bundled 'digits'") from err
            raise FileNotFoundError(
                f"{name} not found under {root} (expected torchvision's layout, {root}/{cls.__name__}/...). "
                f"Pass download=True to fetch it (needs network), point root= at a folder that has it, "
                f"or use the bundled 'digits'") from err
        except OSError as err:  # URLError and socket errors during download
            raise ConnectionError(
                f"could not download {name} to {root}: {err}. There seems to be no network; copy the files in "
                f"torchvision's layout into {root}/{cls.__name__}/ or use the bundled 'digits'") from err
    x, y = {}, {}
    for split, ds in splits.items():
        data = torch.as_tensor(np.asarray(ds.data))[:limit]
        x[split] = _as_images(data if data.ndim == 4 else data[:, None], f"{name} {split} images")
        y[split] = torch.as_tensor(np.asarray(ds.targets))[:limit].long()
    classes = tuple(getattr(splits["train"], "classes", [str(c) for c in range(10)]))
    mean, std = _stats(x["train"])
    return ImageSet(name, x, y, classes, mean, std)


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
        from .models import pretrained_preset

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
    s = from_arrays(x[itr], y[itr], x[ite], y[ite], classes=ds.classes, name=root.name)
    changes = {}
    if mean is not None or std is not None:
        c = s.shape[0]
        changes["mean"] = tuple(float(v) for v in (mean if mean is not None else (0.0,) * c))
        changes["std"] = tuple(float(v) for v in (std if std is not None else (1.0,) * c))
        if len(changes["mean"]) != c or len(changes["std"]) != c or min(changes["std"]) <= 0:
            raise ValueError(f"mean and std need {c} values each, std > 0; got mean={mean}, std={std}")
    if shown is not None:
        changes["shown"] = {"train": shown[itr], "test": shown[ite]}
    return dataclasses.replace(s, **changes) if changes else s


DATASETS = {
    "digits": digits,
    "block-digits": block_digits,
    **{k: functools.partial(torchvision_set, k) for k in TORCHVISION_SETS},
}


def load_dataset(name: str, **kwargs) -> ImageSet:
    """A dataset by name: 'digits' (the embedded default), 'block-digits', 'mnist', 'fashion-mnist', 'cifar10'."""
    if name not in DATASETS:
        near = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise KeyError(f"unknown dataset {name!r}{hint}; choose one of {', '.join(DATASETS)}, "
                       f"or use from_arrays(...) / image_folder(...)")
    return DATASETS[name](**kwargs)
