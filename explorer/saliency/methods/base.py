"""Base classes: one forward inside capture(), targeted autograd.grad to the chosen layer, combine, normalise."""
from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ...capture import capture, eval_mode
from ...device import model_device
from ...layers import resolve
from .layers import as_maps, default_cam_layer, spatial_layers
from .scoring import target_scores
from .util import (
    SaliencyNote,
    check_finite,
    check_input,
    grad_from,
    normalize,
    output_tensors,
    record_inputs,
    resolve_targets,
    run_model,
    upsample,
)

__all__ = ["CAM", "Forward", "Saliency", "check_finite", "check_input", "normalize", "resolve_targets", "upsample"]


@dataclass
class Forward:
    """What one forward pass leaves for later class switches: logits and the layers' activations, graph kept."""
    x: torch.Tensor
    logits: torch.Tensor
    acts: dict[str, torch.Tensor]
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    model: nn.Module | None = None  # for methods that need more forward passes (noise, paths)


def as_channels_last(model: nn.Module, x: torch.Tensor, plain=()) -> torch.Tensor:
    """A channels-last copy of a CPU image batch: oneDNN's convolutions run 12-16% faster on it (resnet18,
    benchmarks/README.md), maps equal within 1e-5. The caller's tensor is not changed; models that .view()
    their activations fall back to the plain layout."""
    if x.device.type != "cpu" or x.ndim != 4 or model in plain:
        return x
    return x.contiguous(memory_format=torch.channels_last)


class Saliency:
    """A saliency method: method(model, x, targets) -> (N, H, W) maps in [0, 1] (raw=True: unnormalised)."""
    name = ""
    family = ""  # the menu's group ("CAM", "Gradient", ...): every registered method sets one
    needs_layer = False  # CAMs explain a layer; input-gradient methods the input
    reusable = True      # a class switch can reuse the last forward (Explainer)
    channels_last = True  # CPU fast path; False: the caller's layout, as the peers (ill-conditioned maps)
    takes_1x1 = False  # a 1 x 1 map's CAM is constant: refused, except by methods that sum many layers (FullGrad)
    nonfinite_hint = "check the image for NaN or inf and the method's knobs"  # what to do about a NaN map
    notes_: tuple | list = ()  # notes on the last result (note()): the saliency panel shows them beside the map
    warns = True  # note() also warns (a notebook); False where a panel shows the notes (not printed from a thread)

    def __init__(self, layers=None):
        self.layers = layers

    def __call__(self, model: nn.Module, x, targets="predicted", labels=None, raw: bool = False) -> torch.Tensor:
        """Maps (N, H, W) for one target class per image."""
        return check_finite(self.explain(self.forward(model, x), targets, labels, raw), self)

    def note(self, message: str, category: type[Warning] = SaliencyNote, warn: bool = True) -> None:
        """Keep a note on the result being computed (notes_, emptied when a call starts); warn=True and the
        instance's `warns` (the labs turn it off: they show notes_ beside the map) also warn with it."""
        self.__dict__.setdefault("notes_", []).append(message)
        if warn and self.warns:
            warnings.warn(f"{self.name}: {message}", category, stacklevel=3)

    def layer_names(self, model: nn.Module, x=None) -> list[str]:
        """The chosen layers, or the default for images like x; errors name valid choices."""
        return []

    def forward_key(self, model: nn.Module, x=None) -> tuple:
        """What determines this method's forward besides images and weights: methods with equal keys can share one."""
        names = self.layer_names(model, x)
        return (type(self).forward, tuple(names), tuple(sorted(self._inputs(model, names))), self.channels_last)

    def forward(self, model: nn.Module, x) -> Forward:
        """One forward pass (eval mode, grad on), keeping the graph to the chosen layers."""
        from ...data import check_model

        if getattr(self, "layers", None) is None:  # a meta-device model: a clear error before the layer probe runs it
            check_model(model)  # (named layers: run_model's own check says it, one walk over the model fewer)
        x = check_input(x).to(model_device(model))
        names = self.layer_names(model, x)
        with eval_mode(model):
            if not names:  # input methods: the graph from the input
                with torch.enable_grad():
                    x = x.requires_grad_(True)
                    return Forward(x, run_model(model, x, any_output=True), {}, model=model)
            mods = resolve(model, names)
            # models seen to .view() their activations: learnt per method instance, not in module state
            plain = self.__dict__.setdefault("_plain_layout", weakref.WeakSet())
            try:
                fast = as_channels_last(model, x, plain) if self.channels_last else x
                logits, rec, ins = self._run(model, fast, mods, names)
            except (RuntimeError, ValueError) as err:  # run_model words a RuntimeError as a ValueError
                if "view size" not in str(err) or x.is_contiguous(memory_format=torch.channels_last):
                    raise
                plain.add(model)  # the model calls .view() on activations: plain layout from now on
                logits, rec, ins = self._run(model, x, mods, names)
        rec, grids = rec
        if not any(t.requires_grad for t in output_tensors(logits)):
            raise ValueError(f"the logits do not depend on layer(s) {', '.join(names)}; choose a layer on the path "
                             f"to the output: {_choices(model, x)}")
        for n in names:
            if grids.get(n) is None:
                shape = tuple(getattr(rec.output(n), "shape", ())) if rec.calls(n) else "nothing"
                raise KeyError(f"layer {n!r} ({type(mods[n]).__name__}) outputs {shape}, not a spatial map "
                               f"(N, C, h, w), channels-last map or token grid; valid choices: {_choices(model, x)}")
            if grids[n].h * grids[n].w == 1 and not self.takes_1x1:
                raise ValueError(f"layer {n!r} outputs a 1 x 1 map (after global pooling): its CAM is constant; "
                                 f"choose a layer with a larger map: {_choices(model, x)}")
        acts = {n: rec.output(n) for n in names}
        return Forward(x, logits, acts, dict(ins), model)

    def _run(self, model, x, mods, names):
        # grad_from's hooks go first, so capture() records the layer's output as a graph leaf; as_maps reads token
        # and channels-last outputs as (N, C, h, w) maps for capture() (pytorch-grad-cam's reshape_transform)
        with grad_from(mods), as_maps(mods, x.shape[-2:], capture(model, names, keep_graph=True)) as rec, \
                record_inputs(self._inputs(model, names)) as ins:
            logits = run_model(model, x, any_output=True)  # a target scores a non-logit output
        return logits, rec, ins

    def _inputs(self, model, names) -> dict:
        return {}

    def explain(self, fw: Forward, targets="predicted", labels=None, raw: bool = False) -> torch.Tensor:
        """Maps for the targets from a kept forward (no new forward pass)."""
        raise NotImplementedError

    def attributions(self, model: nn.Module, x, targets="predicted", labels=None) -> torch.Tensor:
        """Raw attributions (N, C, H, W), detached, on the model's device: the one call for every method. Input
        methods give one per image channel; CAMs C = 1, their unnormalised map (raw=True). The map the method draws
        is normalize(ReLU(reduce(attributions))), up to normalize's eps (1e-7) against the map's range."""
        return check_finite(self.raw_attributions(self.forward(model, x), targets, labels).detach(), self)

    def raw_attributions(self, fw: Forward, targets="predicted", labels=None) -> torch.Tensor:
        """attributions() from a kept forward: (N, C, H, W)."""
        return self.explain(fw, targets, labels, raw=True)[:, None]

    def reduce(self, attr: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, H, W): a CAM's one channel
        return attr.sum(1)

    def grads(self, fw: Forward, t: torch.Tensor, wrt: list[torch.Tensor]) -> tuple:
        """d(sum_i S_{t_i}(x_i)) / d(wrt): targeted, no parameter .grad filled; graph kept for the next class. t: class
        indices (N,) or a Target (targets.py) scoring the output."""
        with torch.enable_grad():
            score = target_scores(fw.logits, t).sum()
            return torch.autograd.grad(score, wrt, retain_graph=True, allow_unused=True)


class CAM(Saliency):
    """Class activation maps at a conv layer: weights(acts, grads) -> (N, C), or override combine()."""
    needs_layer = True
    needs_grads = True
    # the caller's layout, as pytorch-grad-cam: maps of random-weight nets cancel ~1e3-fold, so channels-last
    # rounding alone moved them by up to 0.06 on vgg11_bn (tests/saliency/test_cam_methods_parity.py)
    channels_last = False
    fuse = "mean"  # several layers: mean of normalised maps (pytorch-grad-cam); NormGrad uses "product"

    def layer_names(self, model, x=None):
        """The chosen layers, or the default: the last map larger than 1 x 1 on the path to the logits for images
        like x (default_cam_layer, remembered per model structure and image shape)."""
        if self.layers is not None:
            return list(resolve(model, [self.layers] if isinstance(self.layers, str) else list(self.layers)))
        if x is None:
            raise ValueError(f"{self.name}'s default layer depends on the images: pass them (layer_names(model, x)) "
                             f"or name a layer")
        x = check_input(x)
        key = (tuple(map(id, model.modules())), tuple(x.shape[1:]), x.dtype, model_device(model))
        memo = self.__dict__.setdefault("_default_layers", {})
        if key not in memo:
            memo[key] = default_cam_layer(model, x)
        return [memo[key]]

    def weights(self, acts, grads):  # (N, C, h, w) x2 -> (N, C)
        raise NotImplementedError

    def combine(self, fw: Forward, name: str, acts, grads):  # -> (N, h, w) before ReLU
        return torch.einsum("nc,nchw->nhw", self.weights(acts, grads), acts)

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        self.notes_ = []
        # target objects where the score goes through grads() as defined here (methods with their own scores refuse)
        logits = isinstance(fw.logits, torch.Tensor) and fw.logits.ndim == 2
        t = resolve_targets(targets, fw.logits, labels, objects=type(self).grads is Saliency.grads) if (
            self.needs_grads or logits) else None  # Eigen-CAM of a segmentation model: no target to name
        names = list(fw.acts)
        gs = self.grads(fw, t, [fw.acts[n] for n in names]) if self.needs_grads else [None] * len(names)
        size = fw.x.shape[-2:]
        maps = []
        with torch.no_grad():
            for n, g in zip(names, gs, strict=True):
                a = fw.acts[n].detach()
                g = torch.zeros_like(a) if (g is None and self.needs_grads) else g
                m = F.relu(self.combine(fw, n, a, g))
                maps.append(upsample(m if raw else normalize(m), size))  # pytorch-grad-cam: resize(norm(ReLU))
            out = maps[0] if len(maps) == 1 else torch.stack(maps)
            if len(maps) > 1:
                out = out.prod(0) if self.fuse == "product" else out.mean(0)
            return out if raw else normalize(out)


def _choices(model: nn.Module, x: torch.Tensor) -> str:
    """The layers a CAM can explain for images like x (an error message's list; one probing forward)."""
    return ", ".join(spatial_layers(model, x)) or "none (no spatial map on the path to the logits)"
