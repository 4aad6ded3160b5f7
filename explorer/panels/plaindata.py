"""Plain data, what torch.load(weights_only=True) reads (tensors, dicts, lists, strings, numbers, None): values made
plain, the choices among a lab state's traits, and two snapshots compared."""
from __future__ import annotations

import numpy as np
import torch

PLAIN = (str, int, float, bool, type(None))


def plain(value, strict: bool = False):
    """value as tensors, lists, dicts, strings and numbers (numpy arrays become tensors); an object that is none of
    those becomes its repr, or a TypeError when strict."""
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return torch.from_numpy(np.ascontiguousarray(value).copy())
        return [plain(v, strict) for v in value.tolist()]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, (list, tuple)):
        return [plain(v, strict) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, strict) for k, v in value.items()}
    if strict:
        raise TypeError(f"{type(value).__name__} is not plain data")
    return repr(value)


def _tensors(value) -> bool:
    """Whether plain data holds a tensor."""
    if isinstance(value, dict):
        return any(_tensors(v) for v in value.values())
    return isinstance(value, torch.Tensor) or isinstance(value, list) and any(map(_tensors, value))


def state_of(obj) -> dict:
    """The traits of a lab's state that are choices (strings, numbers and lists or dicts of them); arrays and
    tensors (a slice's directions, the points on a map) are results: computed from the choices again."""
    out = {}
    for name in sorted(obj.trait_names()):
        try:
            value = plain(getattr(obj, name), strict=True)
        except TypeError:
            continue
        if not _tensors(value):
            out[name] = value
    return out


def differences(a, b, where: str = "") -> list[str]:
    """Where two snapshots differ (exactly; NaN equals NaN)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.shape == b.shape and a.dtype == b.dtype and (
            torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(0.5), b.nan_to_num(0.5))
            if a.is_floating_point() else torch.equal(a, b))
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        return ([f"{where}/{k}" for k in a.keys() ^ b.keys()]
                + [d for k in a.keys() & b.keys() for d in differences(a[k], b[k], f"{where}/{k}")])
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [where]
