"""How methods use targets: a class index per image or a Target (targets.py), one score per image to explain."""
from __future__ import annotations

import torch

from .targets import Target


class PerImage(Target):
    """One target per image: image i's score is targets[i]'s score of image i's output alone (one pass over the
    batch, not one per target: a perturbed batch of thousands stays linear)."""

    def __init__(self, targets):
        self.targets = list(targets)

    def __call__(self, out):
        return torch.cat([t(row_of(out, i)) for i, t in enumerate(self.targets)])

    def repeat(self, k):
        return PerImage(self.targets * k)


class Function(Target):
    """Any callable output -> (N,) scores as a target (e.g. lambda out: out['out'][:, 3].mean((1, 2)))."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, out):
        return self.fn(out)


def row_of(out, i: int):
    """Image i's output as a batch of one: a tensor's row, a dict's rows, a detection list's entry."""
    if isinstance(out, dict):
        return {k: v[i:i + 1] if isinstance(v, torch.Tensor) else v for k, v in out.items()}
    return out[i:i + 1]


def _one(t) -> bool:
    return isinstance(t, Target) or (callable(t) and not isinstance(t, (str, type, torch.Tensor)))


def is_target(targets) -> bool:
    """Whether targets is a target (a Target or a callable), or one per image, rather than class indices or a word."""
    return _one(targets) or (isinstance(targets, (list, tuple)) and len(targets) > 0 and all(map(_one, targets)))


def as_target(targets, n: int) -> Target:
    """A Target for n images: one target for all, or a list of one per image (a wrong length raises)."""
    if _one(targets):
        return targets if isinstance(targets, Target) else Function(targets)
    if len(targets) != n:
        raise ValueError(f"need one target per image: {n} images but {len(targets)} targets")
    return PerImage(t if isinstance(t, Target) else Function(t) for t in targets)


def as_classes(targets):
    """Class logit targets (ClassifierOutputTarget, one or one per image) as the class indices they mean, so a metric
    gives them its class-index numbers (deletion: the class's probability); anything else as it is."""
    from .targets import ClassifierOutputTarget

    if isinstance(targets, ClassifierOutputTarget):
        return targets.category
    if isinstance(targets, (list, tuple)) and targets and all(isinstance(t, ClassifierOutputTarget) for t in targets):
        return torch.tensor([t.category for t in targets])
    return targets


def target_scores(out, t) -> torch.Tensor:
    """The scores (N,) to explain: logits' column t_i per image for class indices t, else the target's scores."""
    if isinstance(t, torch.Tensor):
        return out.gather(1, t[:, None])[:, 0]
    s = t(out)
    n = _batch(out)
    if not isinstance(s, torch.Tensor) or tuple(s.shape) != (n,):  # a per-image callable (pytorch-grad-cam's) fails
        raise ValueError(f"{t!r} must give one score per image ({n},) from the batch's output; got "
                         f"{getattr(s, 'shape', type(s).__name__)}")
    return s


def _batch(out) -> int:
    """Images in a model's output: a tensor's first axis, a dict's 'out' (or first value), a detection list's length."""
    if isinstance(out, dict):
        out = out.get("out", next(iter(out.values()), ()))
    return len(out)
