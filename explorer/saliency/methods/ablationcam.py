"""Ablation-CAM: channel weights from the drop in the class score when each channel is ablated."""
import contextlib

import torch

from ...capture import eval_mode
from ...layers import resolve
from .base import CAM
from .scorecam import check_batch_size
from .util import run_model

VALUES = ("auto", "zero")
VARIANTS = ("sound", "pytorch-grad-cam")


@contextlib.contextmanager
def replaced_output(module, rows):
    """The module returns `rows` (b, C, h, w) instead of its output during the block; hook removed on exit."""
    handle = module.register_forward_hook(lambda mod, inp, out: rows)
    try:
        yield
    finally:
        handle.remove()


class AblationCAM(CAM):
    """Ablation-CAM (Desai and Ramaswamy 2020): w_k = (y - y_k) / |y|, y_k the score with channel k ablated.

    value='auto' ablates to 0 where the layer's minimum is 0 (after a ReLU), else to min - 1e7 (pytorch-grad-cam's
    rule for layers that can be negative); 'zero' always to 0 (the paper). The default (variant='sound') differs
    from pytorch-grad-cam 1.5.7 in two ways, on purpose: it divides by |y|, not y, because dividing by a negative
    target score flips every weight and the map shows what lowers the score (y = 0: by 1); and every channel gets
    the same ablation value, because the peer re-reads the minimum after each write, so its values cascade
    (min - 1e7, min - 2e7, ... along each of its batches of 32) and its map depends on a speed setting.
    variant='pytorch-grad-cam' reproduces the peer (default batch_size 32) for comparison with published figures.
    The layers before the ablated one run once per batch at batch size 1 and broadcast, checked on an unablated
    row; models that cannot broadcast repeat the image.
    """
    name = "Ablation-CAM"
    family = "CAM"
    choices = {"value": VALUES, "variant": VARIANTS}
    nonfinite_hint = "variant='pytorch-grad-cam' divides by the target score: a score of 0 gives inf (use 'sound')"
    peer_batch = 32  # pytorch-grad-cam's default batch_size: its ablation value cascades along each such batch

    def __init__(self, layers=None, batch_size: int = 128, value: str = "auto", variant: str = "sound"):
        self.layers = layers
        self.batch_size = batch_size
        self.value = value
        self.variant = variant

    def grads(self, fw, t, wrt):  # gradient-free: the gradient slot carries the channel weights (N, C)
        bs = check_batch_size(self.batch_size)
        for knob, options in self.choices.items():
            if getattr(self, knob) not in options:
                raise ValueError(f"unknown ablation {knob} {getattr(self, knob)!r}; choose one of {', '.join(options)}")
        y = fw.logits.detach().gather(1, t[:, None])  # (N, 1)
        drops = [y - self.scores(fw, name, a.detach(), t, bs) for name, a in zip(fw.acts, wrt, strict=True)]
        if self.variant == "pytorch-grad-cam":
            return [d / y for d in drops]
        return [d / torch.where(y == 0, torch.ones_like(y), y.abs()) for d in drops]

    def weights(self, acts, grads):
        return grads

    @torch.no_grad()
    def scores(self, fw, name, acts, t, bs):  # -> (N, C) target scores with each channel ablated
        module, (n, c) = resolve(fw.model, name)[name], acts.shape[:2]
        out = torch.empty(n, c, dtype=fw.logits.dtype, device=acts.device)  # the model's dtype (float64 too)
        with eval_mode(fw.model):
            for i in range(n):
                values = self.values(acts[i])
                for j in range(0, c, bs):
                    k = torch.arange(j, min(j + bs, c), device=acts.device)
                    rows = acts[i].repeat(len(k) + 1, 1, 1, 1)  # row 0 unablated: checks the broadcast
                    rows[torch.arange(1, len(k) + 1), k] = values[k, None, None]
                    s = self._run_rows(fw, module, i, rows)[:, t[i]]
                    out[i, k] = s[1:]
        return out

    def values(self, a):  # one image's activations (C, h, w) -> the value each channel is ablated to (C,)
        lo = a.min()
        if self.value == "zero" or lo == 0:
            return torch.zeros(len(a), dtype=a.dtype, device=a.device)
        if self.variant == "sound":
            return (lo - 1e7).expand(len(a))
        out, v = torch.empty(len(a), dtype=a.dtype, device=a.device), lo
        for k in range(len(a)):  # the peer: min - 1e7 after each write, restarting with each batch of peer_batch
            v = (lo if k % self.peer_batch == 0 else v) - 1e7  # in the activations' dtype, as the peer rounds
            out[k] = v
        return out

    def _run_rows(self, fw, module, i, rows):  # (b, C, h, w) -> logits (b, K)
        x = fw.x.detach()[i:i + 1]
        try:
            with replaced_output(module, rows):
                logits = run_model(fw.model, x)  # the layers before run at batch 1; the rest broadcasts
            if logits.shape[0] == len(rows) and torch.allclose(logits[0], fw.logits[i].detach(), rtol=1e-4, atol=1e-4):
                return logits
        except (RuntimeError, ValueError):
            pass
        with replaced_output(module, rows):
            return run_model(fw.model, x.expand(len(rows), *x.shape[1:]))
