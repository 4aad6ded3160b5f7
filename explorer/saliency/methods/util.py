"""Shared checks and map operations: input and target validation, min-max normalisation, bilinear resize."""
from __future__ import annotations

import contextlib
import re

import torch
import torch.nn.functional as F
from torch import nn

from ...data import as_model_input, check_model, model_dtype
from .scoring import as_target, is_target

EPS = 1e-7  # as pytorch-grad-cam's scale_cam_image


class ClassesOnly(ValueError):
    """A method or metric asked for a target object (targets.py) where it explains or tracks class indices only."""


class SaliencyNote(UserWarning):
    """What a user must know about one result (a map that is rounding, a gap in completeness): a method keeps it in
    `notes_` beside its result, where the saliency panel shows it, and warns with it in a notebook."""


def normalize(maps: torch.Tensor) -> torch.Tensor:
    """Per-image min-max to [0, 1]: (N, H, W) -> (N, H, W); an all-constant map becomes 0."""
    flat = maps.flatten(1)
    lo, hi = torch.aminmax(flat, dim=1)  # one pass over the maps
    return ((flat - lo[:, None]) / (hi - lo + EPS)[:, None]).view_as(maps)


def nonfinite(maps: torch.Tensor) -> list[int]:
    """Indices (first axis) of the images whose map or attribution holds NaN or inf."""
    t = maps.detach()
    return torch.nonzero(~torch.isfinite(t.reshape(len(t), -1)).all(1)).flatten().tolist() if t.numel() else []


def check_maps(maps: torch.Tensor, what: str = "maps") -> torch.Tensor:
    """maps as they are, or a ValueError naming the images whose map holds NaN or inf: a score of such a map is
    meaningless (a NaN map's argmax is the NaN, its energy a division by NaN), so the metrics refuse it."""
    if not isinstance(maps, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor; got {type(maps).__name__}")
    bad = nonfinite(maps)
    if bad:
        raise ValueError(f"{what} of image(s) {_few(bad)} hold NaN or inf: recompute them with finite knobs "
                         f"(e.g. LRP eps > 0) before scoring them")
    return maps


def check_finite(maps: torch.Tensor, method) -> torch.Tensor:
    """maps as they are, or a ValueError naming the method, its knobs and the images whose map holds NaN or inf:
    every path to a map ends here, so no method's NaN is drawn as a blank picture."""
    bad = nonfinite(maps)
    if not bad:
        return maps
    knobs = ", ".join(f"{k}={v!r}"[:60] for k, v in vars(method).items()  # its knobs (no tensors, memos, results
                      if not k.startswith("_") and not k.endswith("_") and k != "warns"  # or the warns switch)
                      and isinstance(v, (str, int, float, list, tuple)))
    name = f"{method.name or type(method).__name__}{' with ' + knobs if knobs else ''}"
    raise ValueError(f"{name} gave a non-finite map (NaN or inf) for image(s) {_few(bad)} of the batch of "
                     f"{len(maps)}: {method.nonfinite_hint}")


def _few(idx: list[int]) -> str:
    return ", ".join(map(str, idx[:8])) + (f" and {len(idx) - 8} more" if len(idx) > 8 else "")


def upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """Bilinear (half-pixel centres, as cv2 INTER_LINEAR) resize of (N, h, w) maps to size (H, W)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def check_input(x, model: nn.Module | None = None) -> torch.Tensor:
    """An (N, C, H, W) float tensor without NaN or inf, or a clear ValueError.

    The one input rule of explorer.data.as_model_input: uint8 pixels are scaled by 1 / 255; floating images keep
    their values, cast to the model's dtype (float32 when no model is given; run_model casts to the model's dtype
    again); other dtypes are refused.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor of shape (N, C, H, W); got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W); got {tuple(x.shape)} (add a batch axis with x[None])")
    if len(x) == 0:
        raise ValueError("no images: the batch is empty")
    return as_model_input(x.detach(), model, "images")


# RuntimeError messages of real shape mismatches (matmul, conv channels, broadcasting, view, norm layers, cat)
_SHAPE_ERRORS = re.compile(
    r"shapes cannot be multiplied|to have \d+ channels|must match the size of tensor|is invalid for input of size"
    r"|Kernel size can't be greater|but got input of size|Sizes of tensors must match|size mismatch"
    r"|Expected input batch_size|Output size is too small|normalized_shape|should contain \d+ elements not"
    r"|number of channels in input|Expected \d+D .*input", re.IGNORECASE)


def output_tensors(out) -> list[torch.Tensor]:
    """The tensors in a model's output: a tensor, or those in a dict, list or tuple (detection: a list of dicts)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in output_tensors(o)]
    return []


def describe(out) -> str:
    """A model output in a few words: a shape, or its kind."""
    if isinstance(out, torch.Tensor):
        return str(tuple(out.shape))
    if isinstance(out, dict):
        return f"a dict with {', '.join(map(repr, list(out)[:4]))}"
    return f"a {type(out).__name__} of {len(out)}" if isinstance(out, (list, tuple)) else type(out).__name__


def run_model(model: nn.Module, x: torch.Tensor, any_output: bool = False) -> torch.Tensor:
    """Logits (N, K) of a forward pass; a shape mismatch inside the model or non-finite logits become a ValueError.

    Floating images are cast to the model's floating dtype first (differentiably: gradients reach x). any_output:
    the output as it is (a dict, an embedding, detections), for a target to score (targets.py).
    """
    check_model(model)
    dtype = model_dtype(model)
    xin = x.to(dtype) if x.is_floating_point() and x.dtype != dtype else x
    try:
        out = model(xin)
    except RuntimeError as err:
        if _SHAPE_ERRORS.search(str(err)):
            raise ValueError(f"the model cannot run on images of shape {tuple(x.shape)}: {err}") from err
        raise
    if not any_output and (not isinstance(out, torch.Tensor) or out.ndim != 2):
        raise ValueError(f"the model must return logits of shape (N, classes); got {describe(out)} (other outputs "
                         f"need a target: explorer.saliency.SemanticSegmentationTarget, ...)")
    ts = output_tensors(out)
    if any(t.is_meta for t in ts):
        raise ValueError("the model returned 'meta' tensors (no values): materialise its weights first")
    if not all(torch.isfinite(t.detach()).all() for t in ts if t.is_floating_point()):
        big = x.detach().abs().amax().item()
        raise ValueError(f"the model's logits are NaN or infinite for these images (largest |pixel| {big:g}): an "
                         f"overflow in the forward pass? Check the images' scale")
    return out


def resolve_targets(targets, logits: torch.Tensor, labels=None, objects: bool = False) -> torch.Tensor:
    """One class per image (N,) from 'predicted', 'true' (with labels), an int, or a length-N list/tensor; with
    objects=True (methods whose score goes through targets.target_scores) also a Target or one per image."""
    if is_target(targets):
        if not objects:
            raise ClassesOnly(f"this method explains class indices only, not {targets!r}: use a gradient CAM "
                             f"(Grad-CAM, ...) or an input-gradient method")
        return as_target(targets, len(logits) if isinstance(logits, (torch.Tensor, list, tuple)) else
                         len(output_tensors(logits)[0]))
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(f"the model returns {describe(logits)}, not logits (N, classes): say what to explain with a "
                         f"target, e.g. SemanticSegmentationTarget(category, mask), SimilarityToConceptTarget(emb), "
                         f"BinaryClassifierOutputTarget(1) or FasterRCNNBoxScoreTarget(labels, boxes)")
    n, k = logits.shape
    if isinstance(targets, str):
        if targets == "predicted":
            return logits.detach().argmax(1)
        if targets == "true":
            if labels is None:
                raise ValueError("targets='true' needs labels=")
            targets = labels
        else:
            raise ValueError(f"unknown target {targets!r}; use 'predicted', 'true', a class index or one per image")
    t = torch.as_tensor(targets, device=logits.device)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices; got dtype {t.dtype}")
    t = t.long()
    if t.ndim == 0:
        t = t.expand(n)
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"need one target per image: {n} images but targets of shape {tuple(t.shape)}")
    if len(t) and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"target class out of range: got {t.min().item()}..{t.max().item()}, valid 0..{k - 1}")
    return t


@contextlib.contextmanager
def record_inputs(modules: dict[str, nn.Module]):
    """Record each module's input (graph kept) during the block: {name: tensor}; hooks removed on exit."""
    seen, handles = {}, []
    try:
        for name, m in modules.items():
            handles.append(m.register_forward_pre_hook(lambda mod, inp, name=name: seen.__setitem__(name, inp[0])))
        yield seen
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def grad_from(modules: dict[str, nn.Module]):
    """Run under no_grad and switch grad on at the first of `modules` to run: only the graph from that layer to
    the logits is built (faster, and a kept graph holds only what a class switch needs); hooks removed on exit.
    A later one of `modules` whose output has no graph (an nn.Identity or other parameter-free module on a skip path
    from before the switch, or frozen weights there) becomes a graph leaf too, so its gradient is there."""
    def start(module, inputs, output):
        if not isinstance(output, torch.Tensor):
            return None
        if not torch.is_grad_enabled():
            torch.set_grad_enabled(True)  # the outer no_grad() restores the mode on exit, even after an error
            return output.detach().requires_grad_(True)
        if not output.requires_grad and output.is_floating_point():  # computed from tensors before the switch
            return output.detach().requires_grad_(True)
        return None

    handles = []
    try:
        with torch.no_grad():
            handles = [m.register_forward_hook(start) for m in modules.values()]
            yield
    finally:
        for h in handles:
            h.remove()
