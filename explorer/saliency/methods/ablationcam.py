"""Ablation-CAM: channel weights from the drop in the class score when each channel is ablated."""
import contextlib

import torch

from ...capture import eval_mode
from ...layers import resolve
from .base import CAM
from .scorecam import check_batch_size
from .util import run_model

VALUES = ("auto", "zero")


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
    rule for layers that can be negative); 'zero' always to 0 (the paper). pytorch-grad-cam re-reads the minimum
    after each write, so its values cascade (-1e7, -2e7, ...) with the row in its batch; and it divides by y, which
    flips the map where y < 0: we use |y| (and y - y_k where y = 0). The layers before the ablated one run once per
    batch at batch size 1 and broadcast, checked on an unablated row; models that cannot broadcast repeat the image.
    """
    name = "Ablation-CAM"
    family = "CAM"
    choices = {"value": VALUES}

    def __init__(self, layers=None, batch_size: int = 128, value: str = "auto"):
        self.layers = layers
        self.batch_size = batch_size
        self.value = value

    def grads(self, fw, t, wrt):  # gradient-free: the gradient slot carries the channel weights (N, C)
        bs = check_batch_size(self.batch_size)
        if self.value not in VALUES:
            raise ValueError(f"unknown ablation value {self.value!r}; choose one of {', '.join(VALUES)}")
        y = fw.logits.detach().gather(1, t[:, None])  # (N, 1)
        drops = [y - self.scores(fw, name, a.detach(), t, bs) for name, a in zip(fw.acts, wrt, strict=True)]
        return [d / torch.where(y == 0, torch.ones_like(y), y.abs()) for d in drops]

    def weights(self, acts, grads):
        return grads

    @torch.no_grad()
    def scores(self, fw, name, acts, t, bs):  # -> (N, C) target scores with each channel ablated
        module, (n, c) = resolve(fw.model, name)[name], acts.shape[:2]
        out = torch.empty(n, c, device=acts.device)
        with eval_mode(fw.model):
            for i in range(n):
                lo = acts[i].min()
                value = 0.0 if self.value == "zero" or lo == 0 else lo.item() - 1e7
                for j in range(0, c, bs):
                    k = torch.arange(j, min(j + bs, c), device=acts.device)
                    rows = acts[i].repeat(len(k) + 1, 1, 1, 1)  # row 0 unablated: checks the broadcast
                    rows[torch.arange(1, len(k) + 1), k] = value
                    s = self._run_rows(fw, module, i, rows)[:, t[i]]
                    out[i, k] = s[1:]
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
