"""The image set: images for display, the tensors the model sees, labels, class names; from the user's arrays.

One rule for images entering any lab (from_arrays, saliency, codes, landscape, evaluate), as_model_input:
uint8 pixels 0..255 are scaled to [0, 1] float32 (/ 255); floating images are used as they are, only cast to
the model's floating dtype (float32 when there is no model: float16, bfloat16 and float64 arrays become float32);
other integer dtypes are refused (16-bit images have no single scale). NaN or inf, also from an overflowing
cast, is a ValueError. Nothing is standardised unless asked (from_arrays' mean=, std=, transform=).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

SPLITS = ("train", "test")


@dataclass(eq=False)
class ImageSet:
    """Images as (N, C, H, W) float32 per split, int64 labels, class names, the model's normalisation.

    inputs(split) = transform(images) when a transform is set, else (images - mean) / std per channel
    (mean 0 and std 1: the model sees the images themselves).
    """

    name: str
    x: dict[str, torch.Tensor]  # split -> (N, C, H, W), usually in [0, 1]
    y: dict[str, torch.Tensor]  # split -> (N,) int64
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # split -> (N, H, W) bool, known evidence
    transform: Callable | None = None  # images (N, C, H, W) -> model inputs of the same shape, instead of mean/std
    shown: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (N, H', W', 3) uint8 photos, if kept
    skipped: dict[str, str] = field(default_factory=dict)  # image folders: path -> why it was not loaded
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # image folders: same bytes (train, test file)

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

    def display(self, split: str = "test", index=None) -> np.ndarray:
        """Photos to draw overlays on, (N, H', W', 3) uint8 RGB: the image folder's own crops when kept (at
        display_size), else the images as the model sees them before normalisation; index= takes some of them."""
        if split in self.shown:
            return self.shown[split] if index is None else self.shown[split][np.asarray(index)]
        x = self.images(split)
        return to_uint8(x if index is None else x[torch.as_tensor(np.asarray(index))])

    def labels(self, split: str = "test") -> torch.Tensor:
        """Labels of a split, (N,) int64."""
        return self.y[self._split(split)]

    def inputs(self, split: str = "test") -> torch.Tensor:
        """Model inputs of a split (N, C, H, W): the images, transformed or normalised if the set says so."""
        x = self.images(split)
        return self.transform(x) if self.transform is not None else self.normalize(x)

    def sample(self, split: str = "test", n: int | None = None, seed: int = 0):
        """(inputs, labels, indices) of a seeded stratified sample of n of a split (all of it for n=None or
        n >= N): for a lab that asks to evaluate a large dataset on a subsample."""
        y = self.labels(split)
        idx = np.arange(len(y)) if n is None else stratified_indices(y, n, seed)
        x = self.images(split)[torch.from_numpy(idx)]
        return (self.transform(x) if self.transform is not None else self.normalize(x)), y[idx], idx

    def describe_sample(self, split: str = "test", n: int | None = None, seed: int = 0) -> str:
        """What sample(split, n, seed) takes, in words: '500 of 10,000 test images, stratified by class, seed 0'."""
        total = len(self.labels(split))
        if n is None or n >= total:
            return f"all {total:,} {split} images"
        return f"{n:,} of {total:,} {split} images, stratified by class, seed {seed}"

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


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of (N, C, H, W) images."""
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def model_dtype(model: nn.Module | None) -> torch.dtype:
    """The floating dtype of the model's first floating parameter or buffer; float32 without one."""
    if model is not None:  # lazily: the first floating tensor ends the walk
        for t in itertools.chain(model.parameters(), model.buffers()):
            if t.is_floating_point():
                return t.dtype
    return torch.float32


def check_model(model: nn.Module) -> None:
    """A clear ValueError for a model whose weights are not materialised (meta device)."""
    # each module's own tensors (torch's registries): parameters() names every tensor, 2x slower on mobilenet_v3
    tensors = (t for m in model.modules() for d in (m._parameters, m._buffers) for t in d.values())
    if any(t is not None and t.is_meta for t in tensors):
        raise ValueError(f"{type(model).__name__}'s weights are on the 'meta' device (not materialised), so it "
                         f"computes nothing: call model.to_empty(device='cpu') and load its weights first")


def as_model_input(x, model: nn.Module | None = None, what: str = "images") -> torch.Tensor:
    """The one rule for images entering a lab (module docstring): uint8 / 255, floats cast to the model's dtype."""
    src = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if model is not None:
        check_model(model)
    dtype = model_dtype(model)
    if src.dtype == torch.uint8:
        t = src.to(dtype) / 255.0
    elif src.dtype == torch.bool or not src.is_floating_point():
        raise ValueError(f"{what} have dtype {src.dtype}: pass uint8 pixels (0..255, scaled to [0, 1]) or floating "
                         f"images (used as they are), e.g. x.astype('float32') / 65535 for 16-bit images")
    else:
        t = src.to(dtype)
    if t.numel() and not torch.isfinite(t).all():
        if t.dtype != src.dtype and src.is_floating_point() and torch.isfinite(src).all():
            raise ValueError(f"{what} overflow {dtype} (values up to {src.abs().amax().item():g}); rescale them")
        raise ValueError(f"NaN or infinite values in {what}")
    return t


def as_images(x, what: str) -> torch.Tensor:
    """Arrays of shape (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3} -> float32 (N, C, H, W)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as err:  # None, ragged lists, objects, strings
            raise TypeError(f"{what} must be an array or tensor of images of one shape, (N, H, W), (N, C, H, W) "
                            f"or (N, H, W, C); got {type(x).__name__} ({err})") from None
    if t.ndim == 4 and t.shape[1] in (1, 3) and t.shape[3] in (1, 3):  # (N, 3, H, 3): either reading fits
        import warnings

        warnings.warn(f"{what} of shape {tuple(t.shape)} is read as (N, C, H, W) = {tuple(t.shape)}; if it is "
                      f"(N, H, W, C), pass x.permute(0, 3, 1, 2) (or np.moveaxis(x, 3, 1)) instead", stacklevel=3)
    if t.ndim == 3:
        t = t[:, None]
    elif t.ndim == 4 and t.shape[1] not in (1, 3) and t.shape[3] in (1, 3):
        t = t.permute(0, 3, 1, 2)
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError(
            f"{what} must have shape (N, H, W), (N, C, H, W) or (N, H, W, C) with C = 1 or 3; got {tuple(t.shape)}"
        )
    if len(t) == 0:
        raise ValueError(f"{what} is empty: no images")
    if t.shape[2] == 0 or t.shape[3] == 0:
        raise ValueError(f"{what} images have no pixels (shape {tuple(t.shape)} as (N, C, H, W))")
    return as_model_input(t, None, what).contiguous()


def _as_labels(y, n: int, n_classes: int | None, what: str) -> torch.Tensor:
    """Integer labels of length n, each in [0, n_classes)."""
    try:
        t = y.detach().cpu() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    except (TypeError, ValueError):  # strings, objects, ragged lists
        raise TypeError(f"{what} must be integer class indices 0..K-1 (with the names in classes=[...]); got "
                        f"{np.asarray(y, dtype=object).ravel()[:3].tolist()}... of type {type(y).__name__}") from None
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"{what} must be a 1-D array of {n} labels; got shape {tuple(t.shape)}")
    if t.is_complex() or t.is_floating_point():
        bad = t[~(torch.isfinite(t) & (t == t.round()))] if t.is_floating_point() else t
        if len(bad):
            raise ValueError(f"{what} must be integer class indices; found {bad[:3].tolist()}")
    t = t.long()
    if len(t) and (t.min() < 0 or (n_classes is not None and t.max() >= n_classes)):
        hi = n_classes - 1 if n_classes is not None else "n_classes - 1"
        raise ValueError(f"{what} out of range: found {int(t.min())}..{int(t.max())}, valid labels are 0..{hi}")
    return t


def _per_channel(v, c: int, what: str) -> tuple[float, ...]:
    """A scalar or one value per channel -> a tuple of c finite floats."""
    t = torch.as_tensor(v, dtype=torch.float64).flatten()
    if len(t) == 1:
        t = t.expand(c)
    if len(t) != c or not torch.isfinite(t).all():
        raise ValueError(f"{what} must be a finite number or one per channel ({c}); got {v!r}")
    return tuple(t.tolist())


def _weights_transform(transform):
    """A torchvision weights enum -> its transforms(); anything else as it is."""
    if hasattr(transform, "transforms") and hasattr(transform, "meta") and callable(transform.transforms):
        return transform.transforms()
    return transform


def _apply_preset(x: torch.Tensor, t) -> torch.Tensor:
    """The geometric part of a torchvision ImageClassification preset (resize, centre crop) on [0, 1] images."""
    import torchvision.transforms.functional as TF

    if getattr(t, "resize_size", None):
        x = TF.resize(x, t.resize_size, interpolation=t.interpolation, antialias=getattr(t, "antialias", True))
    if getattr(t, "crop_size", None):
        x = TF.center_crop(x, t.crop_size)
    return x.contiguous()


def _normalisation(xtr: torch.Tensor, mean, std, transform):
    """(mean, std, transform) of a new set: none unless asked ('data': the train split's own statistics)."""
    c = xtr.shape[1]
    if transform is not None:
        if mean is not None or std is not None:
            raise ValueError("pass either transform= or mean=/std=, not both")
        if hasattr(transform, "mean") and hasattr(transform, "std"):  # a torchvision preset: use its numbers
            return _per_channel(transform.mean, c, "the transform's mean"), \
                _per_channel(transform.std, c, "the transform's std"), None
        if not callable(transform):
            raise ValueError(f"transform must be callable (images -> model inputs); got {type(transform).__name__}")
        out = transform(xtr[:1])
        if not isinstance(out, torch.Tensor) or out.shape != xtr[:1].shape:
            raise ValueError(f"transform must map (N, C, H, W) images to inputs of the same shape "
                             f"{tuple(xtr.shape[1:])}; got {tuple(getattr(out, 'shape', ()))} (resize the images "
                             f"first, or pass a torchvision weights' transforms())")
        return (0.0,) * c, (1.0,) * c, transform
    data_mean, data_std = (isinstance(v, str) and v == "data" for v in (mean, std))
    for v, what in ((mean, "mean"), (std, "std")):
        if isinstance(v, str) and v != "data":
            raise ValueError(f"{what} must be None, 'data', a number or one per channel; got {v!r}")
    stats = channel_stats(xtr) if data_mean or data_std else None
    mean = stats[0] if data_mean else (0.0,) * c if mean is None else _per_channel(mean, c, "mean")
    std = stats[1] if data_std else (1.0,) * c if std is None else _per_channel(std, c, "std")
    if min(std) <= 0:
        raise ValueError(f"std must be > 0; got {std}")
    return mean, std, None


def from_arrays(x_train, y_train, x_test=None, y_test=None, classes=None, name="arrays",
                test_fraction: float = 0.2, seed: int = 0, mean=None, std=None, transform=None) -> ImageSet:
    """An ImageSet from the user's tensors or arrays; without a test split, a seeded stratified one is held out.

    The model sees the images as given (uint8 pixels scaled to [0, 1], other floats cast to float32; see
    as_model_input) unless asked: mean= and std= (a number, one per channel, or 'data' for the train split's
    own statistics) standardise them; transform= takes a torchvision weights enum or its transforms() (resize and
    centre crop applied to the images, its mean and std to the inputs), or any callable images -> inputs that
    keeps the shape.
    """
    xtr = as_images(x_train, "x_train")
    if classes is not None:
        if isinstance(classes, (str, bytes)) or not hasattr(classes, "__len__"):
            raise TypeError(f"classes must be a list of class names, e.g. ['cat', 'dog']; got {classes!r}")
        if len(set(map(str, classes))) != len(classes):
            raise ValueError(f"classes must be distinct names; got {list(classes)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    n_classes = len(classes) if classes is not None else None
    ytr = _as_labels(y_train, len(xtr), n_classes, "y_train")
    if x_test is None and y_test is not None:
        raise ValueError("y_test given without x_test")
    if x_test is None:
        from sklearn.model_selection import train_test_split

        _classes_check(ytr, "y_train")
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
        idx = np.arange(len(xtr))
        strat = ytr.numpy() if np.bincount(ytr.numpy()).min() >= 2 else None
        try:
            itr, ite = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=strat)
        except ValueError as err:
            raise ValueError(f"cannot hold out a test split of {test_fraction:g} from {len(xtr)} images: {err}; "
                             f"pass x_test and y_test") from err
        xtr, xte, ytr, yte = xtr[itr], xtr[ite], ytr[itr], ytr[ite]
    else:
        if y_test is None:
            raise ValueError("x_test given without y_test")
        xte = as_images(x_test, "x_test")
        yte = _as_labels(y_test, len(xte), n_classes, "y_test")
        if xte.shape[1:] != xtr.shape[1:]:
            raise ValueError(f"x_test images are {tuple(xte.shape[1:])} but x_train images are {tuple(xtr.shape[1:])}")
    _classes_check(ytr, "the train split")
    _classes_check(yte, "the test split")
    if classes is None:
        classes = [str(c) for c in range(int(max(ytr.max(), yte.max())) + 1)]
    transform = _weights_transform(transform)
    if transform is not None and hasattr(transform, "mean") and hasattr(transform, "std"):
        xtr, xte = _apply_preset(xtr, transform), _apply_preset(xte, transform)
    mean, std, fn = _normalisation(xtr, mean, std, transform)
    return ImageSet(name, {"train": xtr, "test": xte}, {"train": ytr, "test": yte}, tuple(map(str, classes)),
                    mean, std, transform=fn)


def _classes_check(y: torch.Tensor, what: str) -> None:
    """At least two classes: with one, every accuracy is 100% and means nothing."""
    if len(torch.unique(y)) < 2:
        raise ValueError(f"{what} has a single class ({int(y[0])}) in {len(y)} images: accuracy, k-NN and "
                         f"the labs' comparisons need at least two classes")


def stratified_indices(labels, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded sample of n of the labels, each class kept in proportion (all if n >= N).

    The labs' evaluation batches (ranking, trust, landscape, CKA) take n this way, so on a class-sorted dataset
    a batch still sees every class (the first n would see one or two).
    """
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).ravel()
    if n < 1 or int(n) != n:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    values, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    share = counts * (n / len(y))
    take = np.floor(share).astype(int)
    rest = n - take.sum()  # largest remainders first (ties by class order) so the total is exactly n
    take[np.argsort(-(share - take), kind="stable")[:rest]] += 1
    out = [rng.choice(np.flatnonzero(inverse == c), k, replace=False) for c, k in enumerate(take) if k]
    return np.sort(np.concatenate(out))
