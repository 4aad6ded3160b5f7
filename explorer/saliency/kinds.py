"""Target kinds the saliency lab offers for a model that is not a classifier: each makes one image's Target from the
image's own output and one number the user picks (a class, another image, a label)."""
from __future__ import annotations

import torch

from .methods.targets import (
    BinaryClassifierOutputTarget,
    ClassifierOutputSoftmaxTarget,
    FasterRCNNBoxScoreTarget,
    SemanticSegmentationTarget,
    SimilarityToConceptTarget,
)
from .methods.util import describe

# kind -> what the user's number means
KINDS = {"segmentation": "class", "similarity": "to image", "binary": "label 0/1", "detection": "top boxes",
         "probability": "class"}


def kinds_for(out) -> tuple[str, ...]:
    """The kinds that fit a model's output (one image's or a batch's)."""
    if isinstance(out, (list, tuple)) and out and all(isinstance(d, dict) and "boxes" in d for d in out):
        return ("detection",)
    t = out.get("out") if isinstance(out, dict) else out
    if not isinstance(t, torch.Tensor):
        return ()
    if t.ndim == 4:
        return ("segmentation",)
    if t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1):
        return ("binary",)
    return ("similarity", "probability") if t.ndim == 2 else ("similarity",)


def make_target(kind: str, k: int, out, reference=None):
    """Image's Target: segmentation: class k over the pixels the image's output gives class k (all pixels if none);
    similarity: to `reference` (image k's output); binary: label k; detection: the image's k highest-scored boxes;
    probability: class k's softmax probability."""
    if kind not in KINDS:
        raise ValueError(f"unknown target kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind not in kinds_for(out):
        raise ValueError(f"a {kind} target does not fit the model's output {describe(out)}; it fits: "
                         f"{', '.join(kinds_for(out)) or 'none'}")
    if kind == "segmentation":
        scores = (out["out"] if isinstance(out, dict) else out)[0].detach()
        mask = (scores.argmax(0) == k).float()
        return SemanticSegmentationTarget(k, mask if mask.any() else torch.ones_like(mask))
    if kind == "similarity":
        ref = reference["out"] if isinstance(reference, dict) else reference
        return SimilarityToConceptTarget(ref.detach().flatten(1)[0])
    if kind == "binary":
        return BinaryClassifierOutputTarget(k)
    if kind == "probability":
        return ClassifierOutputSoftmaxTarget(k)
    det = out[0]
    top = det["scores"].detach().argsort(descending=True)[:max(1, k)]
    return FasterRCNNBoxScoreTarget(det["labels"][top].tolist(), det["boxes"][top].detach())


def session_kinds(session) -> tuple[str, ...]:
    """The target kinds the saliency lab offers for a session: () for a classifier (classes), ('given',) for a
    session's own Target object, else the kinds that fit its model's output (one forward, memoised)."""
    from ..capture import eval_mode
    from ..device import model_device
    from .methods.util import check_input, run_model

    if session.target is None:
        return ()
    if not isinstance(session.target, str):
        return ("given",)

    def probe():
        x = check_input(session.data.inputs("test")[:1]).to(model_device(session.model))
        with eval_mode(session.model), torch.no_grad():
            return kinds_for(run_model(session.model, x, any_output=True))
    return session.memo(("saliency-kinds",), probe)


def batch_targets(model, kind: str, k: int, x, reference=None) -> list:
    """One Target per image of x (N, C, H, W) for a (kind, number) request, each from the image's own output as
    make_target makes it (segmentation: class k over the pixels the image gives class k); similarity: to the
    output of `reference` (1, C, H, W). What the evaluation metrics score for a model that is not a classifier."""
    from ..capture import eval_mode
    from ..device import model_device
    from .methods.scoring import row_of
    from .methods.util import check_input, run_model

    if kind == "similarity" and reference is None:
        raise ValueError("a similarity target needs the reference image (1, C, H, W) whose embedding it compares to")
    with eval_mode(model), torch.no_grad():
        def output(t):
            return run_model(model, check_input(t).to(model_device(model)), any_output=True)
        out, ref = output(x), (output(reference) if kind == "similarity" else None)
    return [make_target(kind, k, row_of(out, i), ref) for i in range(len(x))]
