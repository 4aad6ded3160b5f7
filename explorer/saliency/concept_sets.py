"""TCAV's example sets picked from a session's data in a short text: class labels or index ranges of a split."""
from __future__ import annotations

import re

import numpy as np
import torch

ITEM = re.compile(r"^(?:class\s+(?P<klass>.+)|(?P<lo>\d+)(?:\s*-\s*(?P<hi>\d+))?|(?P<all>all))$", re.IGNORECASE)


def pick(spec: str, labels, classes=()) -> np.ndarray:
    """Sorted unique indices of a split named by spec: comma-separated items, each 'class K' (K an index or a class
    name), an index 'i', an inclusive range 'i-j', or 'all'. A bad item, an index out of range or an empty set is a
    ValueError naming it."""
    labels = np.asarray(labels)
    n, names, out = len(labels), [str(c) for c in classes], []
    n_classes = len(names) or int(labels.max(initial=-1)) + 1
    if not str(spec).strip():
        raise ValueError("an empty set: name its images, e.g. 'class 3' or '0-29, 40'")
    for item in (s.strip() for s in str(spec).split(",")):
        m = ITEM.match(item)
        if m is None:
            raise ValueError(f"{item!r} in {spec!r}: write 'class 3', 'class <name>', '0-29', '7' or 'all', "
                             "separated by commas")
        if m["all"]:
            out.append(np.arange(n))
        elif m["klass"] is not None:
            k = m["klass"].strip()
            k = int(k) if k.isdigit() else names.index(k) if k in names else None
            if k is None or not 0 <= k < n_classes:
                shown = f": {', '.join(names[:10])}{'...' if len(names) > 10 else ''}" if names else ""
                raise ValueError(f"{item!r}: no such class; choose 0..{n_classes - 1}{shown}")
            out.append(np.flatnonzero(labels == k))
        else:
            lo, hi = int(m["lo"]), int(m["hi"] if m["hi"] is not None else m["lo"])
            if not lo <= hi < n:
                raise ValueError(f"{item!r}: indices must run upwards within 0..{n - 1}")
            out.append(np.arange(lo, hi + 1))
    idx = np.unique(np.concatenate(out)) if out else np.zeros(0, int)
    if not len(idx):
        raise ValueError(f"{spec!r} names no images")
    return idx


def tcav_sets(data, split: str, concept: str, randoms: str, target: int, inputs: int = 50):
    """(concept images, random pool, inputs of class `target`, words) as model inputs, from a split: the concept's
    images (at least 2), the random images not in the concept (at least as many as the concept: each random set
    has its size) and the first `inputs` images labelled `target`."""
    labels = data.labels(split).numpy()
    c = pick(concept, labels, data.classes)
    if len(c) < 2:
        raise ValueError(f"TCAV: the concept set {concept!r} has {len(c)} image; a CAV needs at least 2")
    r = np.setdiff1d(pick(randoms, labels, data.classes), c)
    if len(r) < len(c):
        raise ValueError(f"TCAV: {len(r)} random images outside the concept ({randoms!r}), but each random set "
                         f"needs {len(c)} (the concept's size): name more random images or fewer concept images")
    t = class_inputs(data, split, target, inputs)
    words = (f"concept {concept!r}: {len(c)} images, random sets of {len(c)} from {len(r)}, {len(t)} {split} images "
             "of the class")
    return model_inputs(data, split, c), model_inputs(data, split, r), t, words


def class_inputs(data, split: str, target: int, n: int = 50) -> torch.Tensor:
    """The first n model inputs of a split labelled `target` (the inputs whose class TCAV explains)."""
    if not 0 <= target < data.n_classes:
        raise ValueError(f"TCAV: class {target} out of range: choose 0..{data.n_classes - 1}")
    t = np.flatnonzero(data.labels(split).numpy() == target)[:n]
    if not len(t):
        raise ValueError(f"TCAV: no {split} images of class {target} to explain")
    return model_inputs(data, split, t)


def model_inputs(data, split: str, idx: np.ndarray) -> torch.Tensor:
    """The model inputs of some images of a split (only those transformed or normalised, as ImageSet.sample)."""
    x = data.images(split)[torch.from_numpy(np.asarray(idx))]
    return data.transform(x) if data.transform is not None else data.normalize(x)
