"""Batched evaluation of many grid points at once: torch.func.vmap over functional_call (for GPUs)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..capture import eval_mode
from ..device import free_bytes, model_device
from . import functional as fn

OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # torch < 2.5 has only the CUDA name


def vmap_chunk(model: nn.Module, per_point: int, n_points: int, fraction: float = 0.5) -> int:
    """Points per vmap call that fit in `fraction` of the free memory (at least 1, at most all)."""
    free = free_bytes(model_device(model))
    return int(max(1, min(n_points, fraction * free // max(per_point, 1))))


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, OOM) or "out of memory" in str(err).lower()


@torch.no_grad()
def _chunk_metrics(model, base, buffers, d1, d2, x, y, coef) -> list[tuple[float, float]]:
    """(loss, accuracy) for each (a, b) in coef, all points in one vmapped forward per evaluation batch."""
    a = torch.tensor([c[0] for c in coef], device=x.device)
    b = torch.tensor([c[1] for c in coef], device=x.device)

    def at(w, k):  # (P, *w.shape): w + a d1 + b d2 for every point
        shape = (-1,) + (1,) * w.dim()
        p = w + a.to(w.dtype).view(shape) * d1[k]
        return p if d2 is None else p + b.to(w.dtype).view(shape) * d2[k]
    params = {k: at(w, k) for k, w in base.items()}
    batched = torch.func.vmap(lambda p, xb: fn.forward(model, p, buffers, xb), in_dims=(0, None))
    total = torch.zeros(len(coef), device=x.device, dtype=torch.float64)
    correct = torch.zeros(len(coef), device=x.device, dtype=torch.float64)
    finite = torch.ones(len(coef), device=x.device, dtype=torch.bool)
    with eval_mode(model):
        for i in range(0, len(x), fn.EVAL_BATCH):
            logits = batched(params, x[i:i + fn.EVAL_BATCH]).float()  # (P, B, K)
            yb = y[i:i + fn.EVAL_BATCH]
            finite &= torch.isfinite(logits).flatten(1).all(1)
            ce = F.cross_entropy(logits.transpose(1, 2), yb.expand(len(coef), -1), reduction="none")  # (P, B)
            total += ce.sum(1).double()
            correct += (logits.argmax(2) == yb).sum(1).double()
    loss = torch.where(finite & torch.isfinite(total), total / len(x), float("nan")).tolist()
    acc = torch.where(finite, correct / len(x), float("nan")).tolist()
    return list(zip(loss, acc, strict=True))


def vmap_metrics(model, base, buffers, d1, d2, x, y, coef, state: dict):
    """Yield lists of (loss, accuracy) chunk by chunk; on out-of-memory halve state['chunk'] (kept) and retry."""
    i = 0
    while i < len(coef):
        try:
            out = _chunk_metrics(model, base, buffers, d1, d2, x, y, coef[i:i + state["chunk"]])
        except (OOM, RuntimeError) as err:
            if not _is_oom(err) or state["chunk"] == 1:
                raise
            state["chunk"] //= 2
            if x.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        i += len(out)
        yield out
