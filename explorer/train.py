"""Seeded training with checkpoints along the trajectory, and evaluation."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .capture import eval_mode  # noqa: F401 - kept importable from here
from .data import as_model_input, check_model
from .device import model_device
from .optim import Adam


@dataclass
class Evaluation:
    """Loss, accuracy and per-sample predictions and probabilities (on the CPU)."""

    loss: float
    accuracy: float
    predictions: torch.Tensor  # (N,) int64
    probabilities: torch.Tensor  # (N, K) float32


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> Evaluation:
    """Mean cross-entropy, accuracy and predictions of model on (x, y), in eval mode; the mode is restored."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    check_model(model)
    device = model_device(model)
    total, probs = 0.0, []
    with eval_mode(model):
        for i in range(0, len(x), batch_size):  # the one input rule (uint8 / 255, the model's dtype) per batch
            logits = model(as_model_input(x[i:i + batch_size], model, "inputs").to(device)).float()
            total += F.cross_entropy(logits, y[i:i + batch_size].to(device), reduction="sum").item()
            probs.append(logits.softmax(dim=1).cpu())
    p = torch.cat(probs) if probs else torch.zeros(0, 0)
    pred = p.argmax(dim=1) if len(p) else torch.zeros(0, dtype=torch.long)
    n = max(len(x), 1)
    return Evaluation(total / n, (pred == y.cpu()).float().mean().item() if len(y) else float("nan"), pred, p)


@dataclass
class History:
    """What a training run produced: per-epoch metrics and CPU checkpoints along the trajectory."""

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    checkpoints: list[tuple[int, dict[str, torch.Tensor]]] = field(default_factory=list)  # (epoch, state dict)
    seconds: float = 0.0


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the state dict."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _reporter(progress, total: int):
    """A function (done, info) -> None from progress: None/False, True (tqdm.auto) or a callable(done, total, info)."""
    if callable(progress):
        return lambda done, info: progress(done, total, info), lambda: None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="training", unit="batch")

        def report(done, info):
            bar.update(done - bar.n)
            bar.set_postfix(info, refresh=False)
        return report, bar.close
    return lambda done, info: None, lambda: None


def step(model: nn.Module, opt, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, device) -> torch.Tensor:
    """One training step on the inputs idx of (x, y): cross-entropy, backward and opt's step; the loss."""
    xb, yb = as_model_input(x[idx], model, "inputs").to(device), y[idx].to(device)
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def train(model: nn.Module, data, epochs: int = 15, lr: float = 3e-3, batch_size: int = 64, seed: int = 0,
          weight_decay: float = 0.0, checkpoint_epochs=None, progress=None) -> History:
    """Train with Adam on data's train split, shuffled by `seed`; checkpoint at epoch 0 and after each epoch.

    checkpoint_epochs: the epochs to keep (e.g. [0, 1, 3, 6, 10]); None keeps all, [] none.
    progress: None (silent), True (a tqdm.auto bar) or a callable(done, total, info) called after each batch.
    The model's training mode is restored afterwards; the global RNG is untouched.
    """
    import time

    if epochs < 0:
        raise ValueError(f"epochs must be >= 0; got {epochs}")
    check_model(model)
    device = model_device(model)
    x, y = data.inputs("train"), data.labels("train")
    x_test, y_test = data.inputs("test"), data.labels("test")
    gen = torch.Generator().manual_seed(seed)
    opt = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n_batches = (len(x) + batch_size - 1) // batch_size
    report, close = _reporter(progress, epochs * n_batches)
    keep = (lambda e: True) if checkpoint_epochs is None else (lambda e: e in set(checkpoint_epochs))
    hist = History()
    start = time.perf_counter()
    if keep(0):
        hist.checkpoints.append((0, _snapshot(model)))
    was_training = [(m, m.training) for m in model.modules()]
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(x), generator=gen)
            running = 0.0
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]
                loss = step(model, opt, x, y, idx, device)
                running += loss.item() * len(idx)
                report((epoch - 1) * n_batches + b + 1, {"epoch": epoch, "loss": round(loss.item(), 4)})
            ev = evaluate(model, x_test, y_test)
            hist.epochs.append(epoch)
            hist.train_loss.append(running / len(x))
            hist.test_loss.append(ev.loss)
            hist.test_accuracy.append(ev.accuracy)
            if keep(epoch):
                hist.checkpoints.append((epoch, _snapshot(model)))
    finally:
        for m, mode in was_training:
            m.training = mode
        close()
        model.zero_grad(set_to_none=True)
    hist.seconds = time.perf_counter() - start
    return hist


def check_archive(path) -> None:
    """A clear ValueError if a torch.save zip archive is corrupt (a CRC mismatch: torch.load would not notice)."""
    import os
    import zipfile

    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path) or not zipfile.is_zipfile(path):
        return  # a missing file or a legacy (non-zip) checkpoint: torch.load reports those itself
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is a damaged checkpoint archive: {err}") from err
    if bad is not None:
        raise ValueError(f"{path} is corrupt: {bad!r} inside it fails its CRC check (a damaged copy or download)")
