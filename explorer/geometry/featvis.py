"""Feature visualisation: a unit's top dataset images, activation maximisation (Olah et al. 2017), and
multifaceted starts from clusters of the top images (Nguyen, Yosinski & Clune 2016)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import capture, eval_mode
from ..device import model_device
from .features import layer_outputs

# ImageNet colour correlation, square root (Lucent param/color.py), scaled so its largest column norm is 1.
_COLOR = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR = _COLOR / np.linalg.norm(_COLOR, axis=0).max()


def unit_activation(out: torch.Tensor, unit: int) -> torch.Tensor:
    """A unit's activation per input: channel `unit` averaged over space (conv), or column `unit`: (N,)."""
    if unit < 0 or unit >= out.shape[1]:
        raise ValueError(f"unit {unit} does not exist: the layer has {out.shape[1]} units/channels")
    a = out[:, unit]
    return a.flatten(1).mean(1) if a.ndim > 1 else a


def top_images(model: nn.Module, x: torch.Tensor, layer: str, unit: int, k: int = 9,
               batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(indices, activations) of the k inputs of x that drive `unit` of `layer` most, highest first."""
    out = layer_outputs(model, x, [layer], batch_size=batch_size, flatten=False)[layer]
    act = unit_activation(out, unit).numpy()
    order = np.argsort(-act, kind="stable")[:k]
    return order, act[order]


def _scale(h: int, w: int) -> torch.Tensor:
    """1 / frequency (clipped at 1 / max(h, w)): the spectrum's weighting (Lucent's decay_power=1)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return torch.as_tensor(1.0 / np.maximum(np.sqrt(fx ** 2 + fy ** 2), 1.0 / max(h, w)), dtype=torch.float32)


def to_image(param: torch.Tensor, shape: tuple, kind: str) -> torch.Tensor:
    """A parameter tensor -> an image (1, C, H, W) in (0, 1): 'pixel' (sigmoid) or 'fourier' (decorrelated)."""
    c, h, w = shape
    if kind == "pixel":
        return torch.sigmoid(param)[None]
    spec = torch.view_as_complex(param) * _scale(h, w).to(param.device)
    t = torch.fft.irfft2(spec, s=(h, w), norm="ortho") / 4  # (C, H, W)
    if c == 3:  # decorrelate colours
        t = torch.einsum("ij,jhw->ihw", torch.as_tensor(COLOR, dtype=t.dtype, device=t.device), t)
    return torch.sigmoid(t)[None]


def from_image(image: torch.Tensor, kind: str) -> torch.Tensor:
    """The parameter that to_image maps back to `image` (C, H, W) in [0, 1] (clipped to (0.01, 0.99))."""
    t = torch.logit(image.float().clamp(0.01, 0.99))
    if kind == "pixel":
        return t
    c, h, w = image.shape
    if c == 3:
        t = torch.einsum("ij,jhw->ihw", torch.linalg.inv(torch.as_tensor(COLOR, dtype=t.dtype)), t)
    spec = torch.fft.rfft2(4 * t, norm="ortho") / _scale(h, w)
    return torch.view_as_real(spec).contiguous()


def total_variation(img: torch.Tensor) -> torch.Tensor:
    """Mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]| (L1, per pixel so the weight ignores size)."""
    return (img[..., 1:, :] - img[..., :-1, :]).abs().mean() + (img[..., :, 1:] - img[..., :, :-1]).abs().mean()


@dataclass(eq=False)
class Visualisation:
    """An image that drives a unit, and the unit's activation before each step and after the last."""

    image: np.ndarray  # (C, H, W) in [0, 1]
    trace: np.ndarray  # (steps + 1,)


def maximise(model: nn.Module, layer: str, unit: int, shape: tuple, steps: int = 64, lr: float = 0.05,
             seed: int = 0, param: str = "fourier", jitter: int = 1, tv: float = 0.0, normalize=None,
             init: torch.Tensor | None = None, pre: bool | None = None, progress=None) -> Visualisation:
    """Activation maximisation of `unit` of `layer` by Adam on a seeded image parametrisation.

    shape: (C, H, W) of the model's images; normalize: images in [0, 1] -> model inputs (data.normalize);
    jitter: random shifts of up to `jitter` pixels per step; tv: weight of total_variation; init: a start
    image in [0, 1] (multifaceted). pre: maximise a ReLU-like layer's pre-activation (default for those layers: a
    unit that is off at the start has no gradient after the ReLU, lucid#68). The trace is the objective on the
    unjittered image. The model is untouched.
    """
    from ..layers import RELU_LIKE, resolve

    if pre is None:
        pre = isinstance(resolve(model, layer)[layer], RELU_LIKE)
    if param not in ("fourier", "pixel"):
        raise ValueError(f"param must be 'fourier' or 'pixel'; got {param!r}")
    if steps < 1 or lr <= 0:
        raise ValueError(f"need steps >= 1 and lr > 0; got steps={steps}, lr={lr}")
    norm = normalize or (lambda t: t)
    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    c, h, w = shape
    if init is not None:
        if tuple(init.shape) != tuple(shape):
            raise ValueError(f"init must be one image of shape {tuple(shape)}; got {tuple(init.shape)}")
        p0 = from_image(init.detach().cpu(), param)
    elif param == "pixel":
        p0 = 0.01 * torch.randn(c, h, w, generator=gen)
    else:
        p0 = 0.01 * torch.randn(c, h, w // 2 + 1, 2, generator=gen)
    p = p0.to(device).requires_grad_(True)
    opt = torch.optim.Adam([p], lr=lr)
    trace = []
    with eval_mode(model), capture(model, layer, keep_graph=True) as rec:
        def activation(img):
            rec.clear()
            model(norm(img))
            return unit_activation(rec.pre(layer) if pre else rec.output(layer), unit)[0]

        for i in range(steps + 1):
            with torch.no_grad():
                trace.append(float(activation(to_image(p, shape, param))))
            if i == steps:
                break
            with torch.enable_grad():
                img = to_image(p, shape, param)
                if jitter:
                    dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
                    img = torch.roll(img, (dy, dx), dims=(2, 3))
                loss = -activation(img) + (tv * total_variation(img) if tv else 0)
                (grad,) = torch.autograd.grad(loss, [p])  # only the image: the model's .grad stays empty
            p.grad = grad
            opt.step()
            if progress:
                progress(i + 1, steps, {"activation": trace[-1]})
    with torch.no_grad():
        image = to_image(p, shape, param)[0].cpu().numpy()
    return Visualisation(image, np.array(trace))


@dataclass(eq=False)
class Facets:
    """Multifaceted visualisation: the top images, their cluster, each cluster's mean image and its optimum."""

    indices: np.ndarray  # (top,) dataset indices, most active first
    labels: np.ndarray  # (top,) cluster of each
    starts: np.ndarray  # (n_facets, C, H, W) mean image of each cluster, in [0, 1]
    results: list  # n_facets Visualisation


def multifaceted(model: nn.Module, images: torch.Tensor, layer: str, unit: int, n_facets: int = 3, top: int = 30,
                 normalize=None, seed: int = 0, feature_layer: str | None = None, progress=None,
                 **maximise_kwargs) -> Facets:
    """Cluster the top images' features (KMeans on feature_layer, default `layer`) and maximise from each mean.

    images: the dataset's images in [0, 1] (N, C, H, W); normalize maps them to model inputs.
    """
    from sklearn.cluster import KMeans

    norm = normalize or (lambda t: t)
    x = norm(images)
    idx, _ = top_images(model, x, layer, unit, k=top)
    if len(idx) < n_facets:
        raise ValueError(f"{len(idx)} top images cannot make {n_facets} facets")
    flayer = feature_layer or layer
    feats = layer_outputs(model, x[idx], [flayer])[flayer].double().numpy()
    labels = KMeans(n_facets, n_init=10, random_state=seed).fit_predict(feats)
    starts = torch.stack([images[idx[labels == f]].mean(0) for f in range(n_facets)])
    results = []
    for f in range(n_facets):
        results.append(maximise(model, layer, unit, tuple(images.shape[1:]), seed=seed + f, normalize=normalize,
                                init=starts[f], **maximise_kwargs))
        if progress:
            progress(f + 1, n_facets, {"facet": f})
    return Facets(idx, labels, starts.numpy(), results)
