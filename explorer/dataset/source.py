"""What a whole-dataset job reads: model inputs by index from a tensor or array, an ImageSet (an image folder as
explorer.data loads it) or a torch Dataset; contiguous index partitions; content fingerprints for the job's key."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(eq=False)
class Rows:
    """Model inputs x (N, C, H, W) or a torch Dataset of (input, label) items, labels y (N,) or None, masks."""

    x: torch.Tensor | None = None
    y: torch.Tensor | None = None
    masks: torch.Tensor | None = None  # (N, H, W) bool: known evidence, for the pointing game and energy
    dataset: object = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.x) if self.x is not None else len(self.dataset)

    def take(self, lo: int, hi: int):
        """(inputs, labels or None, masks or None) of rows lo..hi - 1."""
        if self.x is not None:
            cut = (lambda t: None if t is None else t[lo:hi])
            return self.x[lo:hi], cut(self.y), cut(self.masks)
        items = [self.dataset[i] for i in range(lo, hi)]
        x = torch.stack([torch.as_tensor(it[0]) for it in items]).float()
        y = torch.as_tensor([int(it[1]) for it in items]) if isinstance(items[0], (tuple, list)) else None
        return x, y, None


def rows(data, split: str = "test", labels=None) -> Rows:
    """Rows from model inputs (a tensor or array, N, C, H, W) or an (inputs, labels) pair, an ImageSet's split (its
    inputs, labels and masks) or a torch Dataset whose items are (input, label); NaN or inf in a tensor is refused
    here, once."""
    if hasattr(data, "inputs") and hasattr(data, "labels"):  # an ImageSet: a folder loaded by explorer.data
        return Rows(data.inputs(split), data.labels(split), data.masks.get(split))
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, (torch.Tensor, np.ndarray))
                                                                   for d in data):
        if labels is not None:
            raise ValueError("labels given twice: in the (inputs, labels) pair and as labels=")
        return rows(data[0], split, labels=data[1])  # (inputs, labels), not a dataset of two items
    if isinstance(data, (torch.Tensor, np.ndarray)):
        x = torch.as_tensor(data)
        if x.ndim != 4:
            raise ValueError(f"inputs must be (N, C, H, W); got shape {tuple(x.shape)}")
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError("the inputs contain NaN or inf")
        y = None if labels is None else torch.as_tensor(np.asarray(labels)).long()
        if y is not None and len(y) != len(x):
            raise ValueError(f"{len(x)} inputs but {len(y)} labels")
        return Rows(x.float(), y)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        if len(data) == 0:
            raise ValueError("the dataset is empty")
        return Rows(dataset=data)
    raise TypeError(f"cannot read a dataset from {type(data).__name__}: pass model inputs (N, C, H, W), an "
                    f"ImageSet (explorer.data.image_folder, load_dataset) or a torch Dataset of (input, label)")


def partitions(n: int, size: int) -> list[tuple[int, int]]:
    """Contiguous index ranges [lo, hi) of at most `size` rows covering 0..n - 1."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"partition size must be an integer >= 1; got {size!r}")
    if n < 1:
        raise ValueError("no rows to partition")
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def fingerprint(*parts) -> str:
    """A sha256 over tensors' and arrays' bytes, models' state dicts and other values' repr: the same inputs give
    the same key in any process (a weights token names memory addresses; this names contents)."""
    h = hashlib.sha256()

    def feed(v):
        if isinstance(v, torch.nn.Module):
            for k, t in v.state_dict().items():
                h.update(k.encode())
                feed(t)
            h.update(repr(v).encode())
        elif isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            # flat first: a 0-d tensor (BatchNorm's num_batches_tracked) has no byte view
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(v, np.ndarray):
            feed(torch.from_numpy(np.ascontiguousarray(v)))
        elif isinstance(v, Rows):
            for t in (v.x, v.y, v.masks):
                feed(t)
            if v.dataset is not None:  # a Dataset by its type, length and first and last items
                feed((type(v.dataset).__qualname__, len(v.dataset)))
                for i in (0, len(v.dataset) - 1):
                    feed(torch.as_tensor(v.dataset[i][0]))
        else:
            h.update(repr(v).encode())
    for p in parts:
        feed(p)
    return h.hexdigest()
