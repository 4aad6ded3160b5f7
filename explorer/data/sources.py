"""Datasets by name: the bundled digits, block-digits, and torchvision's MNIST, Fashion-MNIST and CIFAR-10 from a
folder; each source declares the options it takes (source_options), so the app shows only those."""
from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .imageset import SPLITS, ImageSet, as_images, channel_stats, from_arrays


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
                    test_fraction=0.25, seed=seed, mean="data", std="data")  # the demo model's standardisation
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
    mean, std = channel_stats(x["train"])
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
        x[split] = as_images(data if data.ndim == 4 else data[:, None], f"{name} {split} images")
        y[split] = torch.as_tensor(np.asarray(ds.targets))[:limit].long()
    classes = tuple(getattr(splits["train"], "classes", [str(c) for c in range(10)]))
    mean, std = channel_stats(x["train"])
    return ImageSet(name, x, y, classes, mean, std)


@dataclass(frozen=True)
class Source:
    """A dataset by name: its loader and the options (keyword arguments) it takes, which the app offers."""

    load: Callable[..., ImageSet]
    options: tuple[str, ...] = ()


SOURCES = {
    "digits": Source(digits, ("upsample", "seed")),
    "block-digits": Source(block_digits, ("upsample", "seed")),
    **{k: Source(functools.partial(torchvision_set, k), ("root", "download", "limit")) for k in TORCHVISION_SETS},
}
DATASETS = {name: source.load for name, source in SOURCES.items()}  # name -> loader


def _known(name: str) -> Source:
    """The source of a dataset name; a KeyError that names the valid ones otherwise."""
    if name not in SOURCES:
        near = difflib.get_close_matches(name, SOURCES, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise KeyError(f"unknown dataset {name!r}{hint}; choose one of {', '.join(SOURCES)}, "
                       f"or use from_arrays(...) / image_folder(...)")
    return SOURCES[name]


def source_options(name: str) -> tuple[str, ...]:
    """The options a dataset by name takes, e.g. ('root', 'download', 'limit') for the torchvision sets."""
    return _known(name).options


def load_dataset(name: str, **kwargs) -> ImageSet:
    """A dataset by name: 'digits' (the embedded default), 'block-digits', 'mnist', 'fashion-mnist', 'cifar10'."""
    return _known(name).load(**kwargs)
