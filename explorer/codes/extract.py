"""Activation codes (He et al. 2021): one bit per ReLU-like unit, on when its pre-activation is > 0."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import capture, eval_mode
from ..data import as_model_input, check_model, model_dtype
from ..device import model_device
from ..layers import relu_layers

# captured floats held per batch by default: resnet18 at 224 x 224 captures 18.5 MB per image, so batches of 14
MAX_BYTES = 1 << 28


@dataclass(eq=False)
class Codes:
    """Bit-packed codes: row i is np.packbits of input i's bits; parts[j] spans bits boundaries[j]:boundaries[j+1]."""

    packed: np.ndarray  # (N, ceil(n_bits / 8)) uint8
    n_bits: int
    layers: tuple[str, ...]  # the module names asked for, in the model's order
    parts: tuple[str, ...]  # one entry per call: 'name', or 'name:call' for a module called several times
    boundaries: np.ndarray  # (len(parts) + 1,) bit offsets

    def __len__(self) -> int:
        return len(self.packed)

    def bits(self) -> np.ndarray:
        """The 0/1 codes, (N, n_bits) uint8."""
        return np.unpackbits(self.packed, axis=1, count=self.n_bits)

    def _spans(self, name: str) -> list[tuple[int, int]]:
        idx = [j for j, p in enumerate(self.parts) if p == name or p.rsplit(":", 1)[0] == name]
        if not idx:
            raise KeyError(f"no layer {name!r} in these codes; choose one of {', '.join(self.layers + self.parts)}")
        return [(int(self.boundaries[j]), int(self.boundaries[j + 1])) for j in idx]

    def layer(self, name: str) -> Codes:
        """The codes of one module (all its calls) or of one call ('name:call')."""
        spans = self._spans(name)
        bits = self.bits()
        sub = np.concatenate([bits[:, a:b] for a, b in spans], axis=1)
        parts = tuple(p for p in self.parts if p == name or p.rsplit(":", 1)[0] == name)
        bounds = np.cumsum([0] + [b - a for a, b in spans])
        return Codes(np.packbits(sub, axis=1), sub.shape[1], (name.rsplit(":", 1)[0],), parts, bounds)

    def __repr__(self) -> str:
        return f"Codes({len(self)} inputs x {self.n_bits} bits over {len(self.parts)} layer calls)"


def entered(x, model: nn.Module) -> torch.Tensor:
    """x as the model takes it, checked once for NaN and inf (the one input rule, explorer.data.as_model_input);
    uint8 pixels stay uint8 (they cannot be NaN; model_batch scales each batch), so no float copy of all N."""
    if isinstance(x, torch.Tensor) and x.dtype == torch.uint8:
        check_model(model)
        return x
    return as_model_input(x, model, "inputs")


def model_batch(xb: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """One batch of entered() inputs in the model's dtype: uint8 / 255 (as as_model_input), floats as they are."""
    return xb.to(model_dtype(model)) / 255.0 if xb.dtype == torch.uint8 else xb


def _finite_output(out) -> bool:
    """Whether a forward's output (N, K), small next to the captured blocks, holds no NaN or inf; True for an
    output that is no tensor (then nothing is read here)."""
    return not isinstance(out, torch.Tensor) or not out.is_floating_point() or bool(torch.isfinite(out).all())


def relu_batches(model: nn.Module, x: torch.Tensor, layers, batch_size: int, max_bytes: int | None = None):
    """Yield, per batch, the pre-activations and outputs of each call of each layer, flattened (B, units).

    Batches of batch_size inputs; with max_bytes, the first batch is one input and the bytes it captures set the
    later ones (at most max_bytes of captured tensors): resnet18's 2.3 M bits per 224 x 224 image are 2.4 GB of
    floats per copy at 256 inputs.
    """
    device = model_device(model)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    x = entered(x, model)  # NaN and inf refused here, once, not per batch
    with torch.no_grad(), eval_mode(model), capture(model, layers) as rec:
        i, step = 0, (batch_size if max_bytes is None else 1)
        while i < len(x):
            rec.clear()
            out = model(model_batch(x[i:i + step], model).to(device))
            calls = [(n, c) for n in layers for c in range(len(rec.preacts.get(n, ())))]
            missing = [n for n in layers if not rec.preacts.get(n)]
            if missing:
                raise ValueError(f"layers {missing} did not run in the forward pass, so they have no code")
            if not _finite_output(out):  # a NaN pre-activation reaches the output: only then is every layer read
                bad = [n for n, c in calls if not torch.isfinite(rec.preacts[n][c]).all()]
                if bad:  # NaN has no sign: it would read as 'off' everywhere
                    raise ValueError(f"pre-activations of {', '.join(bad)} are NaN or infinite for inputs {i}.."
                                     f"{i + step - 1}: an overflow in the forward pass? Check the inputs' scale")
            yield ([f"{n}:{c}" if len(rec.preacts[n]) > 1 else n for n, c in calls],
                   [rec.preacts[n][c].flatten(1) for n, c in calls],
                   [rec.outputs[n][c].flatten(1) for n, c in calls])
            if i == 0 and max_bytes is not None:
                held = sum(t.numel() * t.element_size() for store in (rec.preacts, rec.outputs)
                           for ts in store.values() for t in ts if isinstance(t, torch.Tensor))
                i, step = 1, max(1, min(batch_size, max_bytes // max(held, 1)))
            else:
                i += step


def activation_codes(model: nn.Module, x: torch.Tensor, layers=None, batch_size: int = 256,
                     with_activations: bool = False, max_bytes: int = MAX_BYTES):
    """Codes of inputs x (normalised model inputs) from the pre-activations of ReLU-like `layers` (default all).

    Every (channel, position) of a conv layer and every call of a reused module is its own bit. The model runs in
    eval mode without gradients on its own device; its modes are restored. Batches hold at most batch_size inputs
    and max_bytes of captured float tensors, and are packed to bits at once. With with_activations=True also
    returns the continuous post-activation values, (N, n_bits) float32 (all of them: not bounded by max_bytes).
    """
    layers = relu_layers(model, layers)
    if len(x) == 0:
        raise ValueError("no inputs to encode")
    packed, acts, parts, sizes = [], [], None, None
    for names, pre, out in relu_batches(model, x, layers, batch_size, max_bytes):
        if parts is None:
            parts, sizes = names, [p.shape[1] for p in pre]
        elif names != parts:
            raise ValueError(f"the layers ran a different number of times per batch ({names} vs {parts})")
        bits = torch.cat([p > 0 for p in pre], dim=1)  # sign of the pre-activation: on iff > 0
        packed.append(np.packbits(bits.cpu().numpy(), axis=1))  # at once: a batch's bits, never all N of them
        if with_activations:
            acts.append(torch.cat(out, dim=1).float().cpu().numpy())
        del bits, pre, out  # not held through the next forward (the capture clears its own copies before it)
    codes = Codes(np.concatenate(packed), int(sum(sizes)), tuple(layers), tuple(parts),
                  np.cumsum([0] + sizes))
    return (codes, np.concatenate(acts)) if with_activations else codes

