"""Base classes: one forward inside capture(), targeted autograd.grad to the chosen layer, combine, normalise."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..capture import CONV, capture, find_layers, resolve
from ..device import model_device
from ..train import eval_mode
from .util import check_input, grad_from, normalize, record_inputs, resolve_targets, run_model, upsample

__all__ = ["CAM", "Forward", "Saliency", "check_input", "normalize", "resolve_targets", "upsample"]


@dataclass
class Forward:
    """What one forward pass leaves for later class switches: logits and the layers' activations, graph kept."""
    x: torch.Tensor
    logits: torch.Tensor
    acts: dict[str, torch.Tensor]
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    model: nn.Module | None = None  # for methods that need more forward passes (noise, paths)


_NO_CHANNELS_LAST: weakref.WeakSet = weakref.WeakSet()  # models whose forward failed on a channels-last input


def _channels_last(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A channels-last copy of a CPU image batch: oneDNN's convolutions run 12-16% faster on it (resnet18,
    benchmarks/README.md), maps equal within 1e-5. The caller's tensor is not changed; models that .view()
    their activations fall back to the plain layout."""
    if x.device.type != "cpu" or x.ndim != 4 or model in _NO_CHANNELS_LAST:
        return x
    return x.contiguous(memory_format=torch.channels_last)


class Saliency:
    """A saliency method: method(model, x, targets) -> (N, H, W) maps in [0, 1] (raw=True: unnormalised)."""
    name = ""
    needs_layer = False  # CAMs explain a layer; input-gradient methods the input
    reusable = True      # a class switch can reuse the last forward (Explainer)
    channels_last = True  # CPU fast path; False: the caller's layout, as the peers (ill-conditioned maps)

    def __init__(self, layers=None):
        self.layers = layers

    def __call__(self, model: nn.Module, x, targets="predicted", labels=None, raw: bool = False) -> torch.Tensor:
        """Maps (N, H, W) for one target class per image."""
        return self.explain(self.forward(model, x), targets, labels, raw)

    def layer_names(self, model: nn.Module) -> list[str]:
        """The chosen layers, or the last convolution; errors name valid choices."""
        return []

    def forward_key(self, model: nn.Module) -> tuple:
        """What determines this method's forward besides images and weights: methods with equal keys can share one."""
        names = self.layer_names(model)
        return (type(self).forward, tuple(names), tuple(sorted(self._inputs(model, names))), self.channels_last)

    def forward(self, model: nn.Module, x) -> Forward:
        """One forward pass (eval mode, grad on), keeping the graph to the chosen layers."""
        x = check_input(x).to(model_device(model))
        names = self.layer_names(model)
        with eval_mode(model):
            if not names:  # input methods: the graph from the input
                with torch.enable_grad():
                    x = x.requires_grad_(True)
                    return Forward(x, run_model(model, x), {}, model=model)
            mods = resolve(model, names)
            try:
                logits, rec, ins = self._run(model, _channels_last(model, x) if self.channels_last else x, mods, names)
            except (RuntimeError, ValueError) as err:  # run_model words a RuntimeError as a ValueError
                if "view size" not in str(err) or x.is_contiguous(memory_format=torch.channels_last):
                    raise
                _NO_CHANNELS_LAST.add(model)  # the model calls .view() on activations: plain layout from now on
                logits, rec, ins = self._run(model, x, mods, names)
        acts = {n: rec.output(n) for n in names}
        if not logits.requires_grad:
            raise ValueError(f"the logits do not depend on layer(s) {', '.join(names)}; choose a layer on the path "
                             f"to the output: {', '.join(find_layers(model, 'conv'))}")
        for n, a in acts.items():
            if not isinstance(a, torch.Tensor) or a.ndim != 4:
                raise ValueError(f"layer {n!r} outputs {tuple(getattr(a, 'shape', ()))}, not a (N, C, h, w) map; "
                                 f"choose a convolutional layer: {', '.join(find_layers(model, 'conv'))}")
        return Forward(x, logits, acts, dict(ins), model)

    def _run(self, model, x, mods, names):
        # grad_from's hooks go first, so capture() records the layer's output as a graph leaf
        with grad_from(mods), capture(model, names, keep_graph=True) as rec, \
                record_inputs(self._inputs(model, names)) as ins:
            logits = run_model(model, x)
        return logits, rec, ins

    def _inputs(self, model, names) -> dict:
        return {}

    def explain(self, fw: Forward, targets="predicted", labels=None, raw: bool = False) -> torch.Tensor:
        """Maps for the targets from a kept forward (no new forward pass)."""
        raise NotImplementedError

    def grads(self, fw: Forward, t: torch.Tensor, wrt: list[torch.Tensor]) -> tuple:
        """d(sum_i S_{t_i}(x_i)) / d(wrt): targeted, no parameter .grad filled; graph kept for the next class."""
        with torch.enable_grad():
            score = fw.logits.gather(1, t[:, None]).sum()
            return torch.autograd.grad(score, wrt, retain_graph=True, allow_unused=True)


class CAM(Saliency):
    """Class activation maps at a conv layer: weights(acts, grads) -> (N, C), or override combine()."""
    needs_layer = True
    needs_grads = True
    # the caller's layout, as pytorch-grad-cam: maps of random-weight nets cancel ~1e3-fold, so channels-last
    # rounding alone moved them by up to 0.06 on vgg11_bn (tests/saliency/test_cam_methods_parity.py)
    channels_last = False
    fuse = "mean"  # several layers: mean of normalised maps (pytorch-grad-cam); NormGrad uses "product"

    def layer_names(self, model):
        convs = find_layers(model, "conv")
        if not convs:
            raise ValueError(f"{self.name} needs a convolutional layer, but {type(model).__name__} has none "
                             f"(conv types: {', '.join(c.__name__ for c in CONV)})")
        names = [convs[-1]] if self.layers is None else [self.layers] if isinstance(self.layers, str) else self.layers
        mods = resolve(model, list(names))
        for n, m in mods.items():
            if not (isinstance(m, CONV) or any(isinstance(c, CONV) for c in m.modules()) or n in _after_conv(model)):
                raise KeyError(f"layer {n!r} ({type(m).__name__}) is not convolutional; valid choices: "
                               f"{', '.join(convs)}")
        return list(mods)

    def weights(self, acts, grads):  # (N, C, h, w) x2 -> (N, C)
        raise NotImplementedError

    def combine(self, fw: Forward, name: str, acts, grads):  # -> (N, h, w) before ReLU
        return torch.einsum("nc,nchw->nhw", self.weights(acts, grads), acts)

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        t = resolve_targets(targets, fw.logits, labels)
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


def _after_conv(model: nn.Module) -> set:
    """Names of leaf modules that come after a conv in registration order (ReLU, BN, pool on conv maps)."""
    out, seen_conv = set(), False
    for n, m in model.named_modules():
        if isinstance(m, CONV):
            seen_conv = True
        elif seen_conv and n and not any(True for _ in m.children()) and not isinstance(m, (nn.Linear, nn.Flatten)):
            out.add(n)
    return out
