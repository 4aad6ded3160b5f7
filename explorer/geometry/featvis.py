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


STEPS = 256  # optimiser steps by default: Olah et al. 2017 run 512 on 224-pixel images; small images need fewer
# 'auto' parametrises images smaller than this in pixels: their spectrum has too few frequencies for the 1/f
# weighting to help, and it slows the high frequencies that small units want (8x8 digits: relu1 stays below the
# best real image in 256 steps in the Fourier basis, and reaches it in pixels).
FOURIER_MIN = 32
WINDOW = 32  # steps over which convergence is judged (the objective's relative change)


@dataclass(eq=False)
class Visualisation:
    """An image that drives a unit, the objective before each step and after the last, and whether it converged."""

    image: np.ndarray  # (C, H, W) in [0, 1]
    trace: np.ndarray  # (steps + 1,) the objective on the unjittered image
    objective: str = ""  # what was maximised, in words
    converged: bool = True  # the objective's relative change over the last WINDOW steps is below rtol
    change: float = 0.0  # that relative change
    grad_norm: float = 0.0  # norm of the objective's gradient with respect to the image at the last step

    def label(self) -> str:
        """One line for the panel: the value reached and, when it did not converge, that it did not."""
        done = "converged" if self.converged else f"did not converge: still changing {self.change:.1%} over the " \
            f"last {WINDOW} steps"
        return f"{self.objective}: {self.trace[-1]:.3g} ({done})"


def maximise(model: nn.Module, layer: str, unit: int, shape: tuple, steps: int = STEPS, lr: float = 0.05,
             seed: int = 0, param: str = "auto", jitter: int = 1, tv: float = 0.0, normalize=None,
             init: torch.Tensor | None = None, pre: bool = False, rtol: float = 1e-2,
             progress=None) -> Visualisation:
    """Activation maximisation (Erhan et al. 2009; Olah et al. 2017) of `unit` of `layer` by Adam on a seeded
    image parametrisation.

    The objective is the unit's activation as top_images measures it: the channel's output averaged over space
    (the 'channel' objective of Olah et al.), or with pre=True its pre-activation. While a ReLU-like unit is off
    everywhere its gradient is zero, so the step follows the pre-activation's instead (Lucid's redirected ReLU).
    The image stays a plausible input: a sigmoid keeps it in the images' range [0, 1], and normalize (images ->
    model inputs, e.g. data.normalize) applies the dataset's normalisation. param: 'fourier' (decorrelated
    spectrum, Olah et al.), 'pixel', or 'auto' (pixel below FOURIER_MIN pixels a side). shape: (C, H, W) of the images;
    jitter: random shifts of up to `jitter` pixels per step; tv: weight of total_variation; init: a start image
    in [0, 1] (multifaceted). converged: the objective changed by less than rtol (relative) over the last
    WINDOW steps and the unit is on. The model is untouched.
    """
    from ..layers import RELU_LIKE, resolve

    mod = resolve(model, layer)[layer]
    relu_like = isinstance(mod, RELU_LIKE)
    if pre and not relu_like:
        raise ValueError(f"pre=True needs a ReLU-like layer; {layer} is a {type(mod).__name__}")
    if param not in ("auto", "fourier", "pixel"):
        raise ValueError(f"param must be 'auto', 'fourier' or 'pixel'; got {param!r}")
    if steps < 1 or not lr > 0:
        raise ValueError(f"need steps >= 1 and lr > 0; got steps={steps}, lr={lr}")
    norm = normalize or (lambda t: t)
    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    c, h, w = shape
    if param == "auto":
        param = "pixel" if min(h, w) < FOURIER_MIN else "fourier"
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
    trace, grad_norm, redirected = [], 0.0, False
    with eval_mode(model), capture(model, layer, keep_graph=True) as rec:
        def activation(img, use_pre=pre):
            rec.clear()
            model(norm(img))
            return unit_activation(rec.pre(layer) if use_pre else rec.output(layer), unit)[0]

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
                a = activation(img)
                g_img, g_p = torch.autograd.grad(a, [img, p], retain_graph=True)  # the model's .grad stays empty
                redirected = relu_like and not pre and not g_img.any()
                if redirected:  # the unit is off everywhere: no gradient through the ReLU
                    a = activation(img, use_pre=True)
                    g_img, g_p = torch.autograd.grad(a, [img, p], retain_graph=bool(tv))
                grad_norm, grad = float(g_img.norm()), -g_p
                if tv:
                    grad = grad + torch.autograd.grad(tv * total_variation(img), [p])[0]
            p.grad = grad
            opt.step()
            if progress:
                progress(i + 1, steps, {"activation": f"{trace[-1]:.3g}"})
    with torch.no_grad():
        image = to_image(p, shape, param)[0].cpu().numpy()
    trace = np.array(trace)
    k = min(WINDOW, steps)
    change = abs(trace[-1] - trace[-1 - k]) / max(abs(trace[-1]), 1e-12)
    what = f"{layer}[{unit}] {'pre-activation' if pre else 'activation'}, mean over space"
    converged = change < rtol and not redirected  # a unit still off at the last step is still moving
    return Visualisation(image, trace, what, bool(converged), float(change), grad_norm)


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
