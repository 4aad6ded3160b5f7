"""Deep Feature Factorization (Collins et al. 2018; pytorch-grad-cam's DeepFeatureFactorization): concepts as a
non-negative factorization of a layer's activations over a batch, each with a map per image and, through the
classifier head, its top categories."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import capture, eval_mode
from ..device import model_device
from ..jobs import Estimate, Job, key, private_copy
from .methods.layers import grid_of
from .methods.util import check_input, normalize, run_model, upsample

# matplotlib's gist_rainbow anchors (pytorch-grad-cam's concept colours, after edocollins/DFF), RGB in [0, 1]
RAINBOW = ((0.000, (1.00, 0.00, 0.16)), (0.030, (1.00, 0.00, 0.00)), (0.215, (1.00, 1.00, 0.00)),
           (0.400, (0.00, 1.00, 0.00)), (0.586, (0.00, 1.00, 1.00)), (0.770, (0.00, 0.00, 1.00)),
           (0.954, (1.00, 0.00, 1.00)), (1.000, (1.00, 0.00, 0.75)))
NMF_COLUMNS = 4096  # the estimate's timed factorization: at most this many columns (positions of all images)


@dataclass(frozen=True)
class Factorization:
    """concepts (C, K) channel embeddings, maps (N, K, H, W) in [0, 1], and per concept the head's softmax
    scores (K, classes) and top categories (K, top_k), or None without a head."""
    layer: str
    concepts: np.ndarray
    maps: np.ndarray
    scores: np.ndarray | None
    top: np.ndarray | None


def factorize(acts: np.ndarray, components: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, h, w) activations -> (concepts (C, K), explanations (N, K, h, w)): scikit-learn's NMF (init='random',
    random_state=seed) of the (C, N h w) matrix shifted by each channel's minimum, the shift added back to the
    concepts; NaN read as 0 (pytorch-grad-cam's dff)."""
    from sklearn.decomposition import NMF

    n, c, h, w = acts.shape
    m = acts.transpose(1, 0, 2, 3).reshape(c, -1)
    m = np.where(np.isnan(m), 0, m)
    offset = m.min(axis=1)
    nmf = NMF(n_components=components, init="random", random_state=seed)
    concepts = nmf.fit_transform(m - offset[:, None]) + offset[:, None]
    return concepts, nmf.components_.reshape(components, n, h, w).transpose(1, 0, 2, 3)


def default_head(model: nn.Module, channels: int) -> nn.Module | None:
    """The model's last Linear layer taking `channels` features (resnet's fc after layer4), or None."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.in_features == channels]
    return heads[-1] if heads else None


def layer_map(model: nn.Module, x: torch.Tensor, layer: str, components: int):
    """((N, C, h, w) float32 numpy activations of the layer, its grid) for images x on the model's device; a clear
    error for a layer without spatial maps or more components than its channels."""
    with eval_mode(model), torch.no_grad(), capture(model, [layer]) as rec:
        run_model(model, x)
    out = rec.output(layer)
    grid = grid_of(out.shape, x.shape[-2:]) if isinstance(out, torch.Tensor) else None
    if grid is None:
        raise ValueError(f"DFF: layer {layer!r} outputs {tuple(getattr(out, 'shape', ()))}, not a spatial map")
    if not 1 <= components <= grid.channels:
        raise ValueError(f"DFF: components={components}; choose 1..{grid.channels} (the layer's channels)")
    return grid.to_map(out).float().cpu().numpy(), grid


def deep_feature_factorization(model: nn.Module, x, layer: str, components: int = 16, head="auto", top_k: int = 2,
                               seed: int = 0) -> Factorization:
    """DFF of images x at a layer: concepts, their maps (per concept min-max normalised, then bilinear to the image
    size, as the peer) and, with a head (a module, a layer name, 'auto': default_head, or None), the softmax of the
    head on each concept and its top_k categories."""
    x = check_input(x).to(model_device(model))
    acts, grid = layer_map(model, x, layer, components)
    concepts, expl = factorize(acts, components, seed)
    e = torch.from_numpy(np.float32(expl)).flatten(0, 1)  # (N K, h, w)
    maps = upsample(normalize(e), x.shape[-2:]).view(len(x), components, *x.shape[-2:]).numpy()
    if isinstance(head, str) and head != "auto":
        head = dict(model.named_modules())[head]
    head = default_head(model, grid.channels) if isinstance(head, str) else head
    if head is None:
        return Factorization(layer, concepts, maps, None, None)
    with eval_mode(head), torch.no_grad():
        p = next(head.parameters(), torch.empty(0))
        logits = head(torch.from_numpy(np.float32(concepts.T)).to(p.device, p.dtype))
    scores = logits.softmax(-1).float().cpu().numpy()
    return Factorization(layer, concepts, maps, scores, np.argsort(scores, axis=1)[:, ::-1][:, :top_k])


def rainbow(k: int) -> np.ndarray:
    """(k, 3) RGB in [0, 1]: gist_rainbow at 0, 1/k, 2/k, ... as matplotlib's 256-entry table samples it."""
    pos = np.array([p for p, _ in RAINBOW])
    rgb = np.array([c for _, c in RAINBOW])
    idx = np.minimum((np.arange(0, 1, 1.0 / k)[:k] * 256).astype(int), 255) / 255
    return np.stack([np.interp(idx, pos, rgb[:, i]) for i in range(3)], 1)


def factorization_image(image: np.ndarray, maps: np.ndarray, colors=None, image_weight: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8: each pixel in the colour of its strongest concept, brightness its map value, blended with
    the image (float RGB in [0, 1]) as pytorch-grad-cam's show_factorization_on_image (its HSV round trip in exact
    arithmetic: 8-bit rounding apart, the same; the maps are not changed)."""
    colors = rainbow(len(maps)) if colors is None else np.asarray(colors, dtype=np.float64)[:, :3]
    c = np.uint8(colors * 255).astype(np.float64)  # the peer's 8-bit colours
    best = maps.argmax(0)
    value = np.uint8(255 * np.where(best[None] == np.arange(len(maps))[:, None, None], maps, 0))  # (K, H, W)
    scale = value / np.maximum(c.max(1), 1)[:, None, None]  # V replaced: RGB scaled by V' / V
    mask = (c[:, None, None, :] * scale[..., None]).sum(0) / 255
    return np.uint8((image * image_weight + mask * (1 - image_weight)) * 255)


def concept_overlay(photo: np.ndarray, maps: np.ndarray, colors=None, image_weight: float = 0.5) -> np.ndarray:
    """factorization_image() on a uint8 (H', W', 3) photo: the maps (K, H, W) resized bilinearly to it first (PIL)."""
    from PIL import Image

    if maps.shape[1:] != photo.shape[:2]:
        size = (photo.shape[1], photo.shape[0])
        maps = np.stack([np.asarray(Image.fromarray(np.float32(m), mode="F").resize(size, Image.BILINEAR))
                         for m in maps])
    return factorization_image(photo / 255.0, maps, colors, image_weight)


def dff_job(session, x, layer: str, components: int = 16, head="auto", top_k: int = 2, seed: int = 0) -> Job:
    """deep_feature_factorization() of images x on a private copy of the session's model, as a Job."""
    from .tcav import digest

    if isinstance(head, nn.Module):  # the same module in the job's copy: by its name
        head = next((n for n, m in session.model.named_modules() if m is head), None)
        if head is None:
            raise ValueError("DFF: the head must be a module of the session's model (or its name, 'auto' or None)")
    k = key("saliency-dff", digest(x), layer, components, head, top_k, seed)
    return Job(k, lambda: private_copy(session.model),
               lambda twin, progress: deep_feature_factorization(twin, x, layer, components, head, top_k, seed), "DFF",
               lambda: dff_estimate(session.model, x, layer, components, seed, session))


def dff_estimate(model, x: torch.Tensor, layer: str, components: int = 16, seed: int = 0,
                 session=None) -> Estimate:
    """One timed forward of the images (DFF's only pass), one timed factorization of seeded non-negative
    activations of the layer's size (scikit-learn's NMF, most of the time on a small model, its 200 iterations at
    most: real activations may stop sooner; its import, once per kernel, paid here) and the model's copy; memory:
    the activations of every image."""
    from sklearn.decomposition import NMF  # noqa: F401 - once per kernel: not the factorization's cost

    from .. import estimates

    session = session if hasattr(session, "memo") else None  # a stand-in without the memo: timed now
    x = check_input(x)
    n = len(x)
    seconds = estimates.forwards(model, x[:2], n, batch=n, session=session)
    c, h, w = layer_map(model, x[:1].to(model_device(model)), layer, components)[0].shape[1:]
    m = max(1, min(n, NMF_COLUMNS // (h * w)))  # images timed: at most NMF_COLUMNS columns, the rest scaled
    fake = np.maximum(np.random.default_rng(seed).standard_normal((m, c, h, w)), 0)  # ReLU-like, seeded
    start = time.perf_counter()
    factorize(fake, components, seed)
    seconds += (time.perf_counter() - start) * n / m  # an NMF iteration is linear in the columns (images x h x w)
    seconds += estimates.param_bytes(model) / 2e9  # the job's private copy of the model, at about 2 GB/s
    return Estimate(seconds, n * estimates.activation_bytes(model, x[:2]),
                    f"one forward of {n} images and a factorization into {components} concepts")
