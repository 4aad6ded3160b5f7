"""Targets: what to explain when it is not one class logit. A target maps the model's output (logits, a dict, an
embedding, a detection list) to one score per image (N,); gradient methods explain that score. The definitions are
pytorch-grad-cam's (utils/model_targets.py), applied to the whole batch at once."""
from __future__ import annotations

import torch


def _tensor(out, what: str) -> torch.Tensor:
    """The tensor to score: torchvision segmentation's dict gives its 'out'; a tensor stays."""
    if isinstance(out, dict) and "out" in out:
        out = out["out"]
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"{what} needs a tensor output (or a dict with 'out'); the model returned "
                         f"{type(out).__name__}")
    return out


class Target:
    """A callable output -> (N,) scores; repeat(k) scores k stacked copies of the batch (noise, path samples)."""
    name = ""

    def __call__(self, out) -> torch.Tensor:
        raise NotImplementedError

    def repeat(self, k: int) -> Target:
        return self

    def __repr__(self) -> str:
        knobs = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not isinstance(v, torch.Tensor))
        return f"{type(self).__name__}({knobs})"


class ClassifierOutputTarget(Target):
    """A class's logit, out[:, category] (what a class index means)."""
    name = "class logit"

    def __init__(self, category: int):
        self.category = category

    def __call__(self, out):
        return _classes(out, self)[:, self.category]


class ClassifierOutputSoftmaxTarget(Target):
    """A class's softmax probability."""
    name = "class probability"

    def __init__(self, category: int):
        self.category = category

    def __call__(self, out):
        return torch.softmax(_classes(out, self), dim=-1)[:, self.category]


class BinaryClassifierOutputTarget(Target):
    """A binary classifier's single logit (N, 1) or (N,): as it is for category 1, negated for category 0."""
    name = "binary logit"

    def __init__(self, category: int = 1):
        if category not in (0, 1):
            raise ValueError(f"a binary target's category is 0 or 1; got {category!r}")
        self.category = category

    def __call__(self, out):
        out = _tensor(out, "a binary target")
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ValueError(f"a binary target needs one logit per image, (N,) or (N, 1); got {tuple(out.shape)}")
        return out if self.category == 1 else -out


class SemanticSegmentationTarget(Target):
    """The sum of a class's scores over a mask (H, W) of the output (N, classes, H, W): torchvision FCN, DeepLabV3 and
    LR-ASPP return it as the dict's 'out'."""
    name = "segmentation mask"

    def __init__(self, category: int, mask):
        self.category = category
        self.mask = torch.as_tensor(mask)

    def __call__(self, out):
        out = _tensor(out, "a segmentation target")
        if out.ndim != 4 or tuple(out.shape[-2:]) != tuple(self.mask.shape[-2:]):
            raise ValueError(f"a segmentation target needs scores (N, classes, H, W) matching its mask "
                             f"{tuple(self.mask.shape)}; got {tuple(out.shape)}")
        if not 0 <= self.category < out.shape[1]:
            raise ValueError(f"segmentation class {self.category} out of range 0..{out.shape[1] - 1}")
        return (out[:, self.category] * self.mask.to(out)).sum(dim=(-2, -1))


class SimilarityToConceptTarget(Target):
    """Cosine similarity of each image's embedding (N, D) to a concept embedding (D,) (another image's, say)."""
    name = "similarity to a concept"

    def __init__(self, concept_embedding):
        self.concept = torch.as_tensor(concept_embedding).detach().flatten()

    def __call__(self, out):
        out = _tensor(out, "a similarity target").flatten(1)
        if out.shape[1] != len(self.concept):
            raise ValueError(f"the embedding has {out.shape[1]} features but the concept {len(self.concept)}")
        return torch.cosine_similarity(out, self.concept.to(out)[None], dim=1)


class FasterRCNNBoxScoreTarget(Target):
    """Per image: the sum over the given boxes (x1, y1, x2, y2) of IoU + score of the detection that overlaps each
    most, if that IoU exceeds iou_threshold and its label matches (torchvision detection's list of dicts)."""
    name = "detection boxes"

    def __init__(self, labels, bounding_boxes, iou_threshold: float = 0.5):
        self.labels = [int(v) for v in labels]
        self.boxes = torch.as_tensor(bounding_boxes, dtype=torch.float32).reshape(-1, 4)
        self.iou_threshold = iou_threshold

    def __call__(self, out):
        from torchvision.ops import box_iou

        if not isinstance(out, (list, tuple)) or not all(isinstance(d, dict) and "boxes" in d for d in out):
            raise ValueError(f"a detection target needs a list of dicts with 'boxes', 'labels', 'scores' per image; "
                             f"got {type(out).__name__}")
        scores = []
        for det in out:
            boxes = det["boxes"]
            s = boxes.new_zeros(())
            if len(boxes):
                for box, label in zip(self.boxes.to(boxes), self.labels, strict=True):
                    ious = box_iou(box[None], boxes)
                    i = ious.argmax()
                    if ious[0, i] > self.iou_threshold and int(det["labels"][i]) == label:
                        s = s + ious[0, i] + det["scores"][i]
            scores.append(s)
        return torch.stack(scores)


def _classes(out, target) -> torch.Tensor:
    out = _tensor(out, target.name)
    if out.ndim != 2:
        raise ValueError(f"a {target.name} target needs logits (N, classes); got {tuple(out.shape)}")
    return out
