"""Seeded training with checkpoints along the trajectory, and evaluation."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .capture import eval_mode  # noqa: F401 - kept importable from here
from .checkpoints import check_archive  # noqa: F401 - kept importable from here
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


class DivergenceWarning(RuntimeWarning):
    """The training loss grew a hundredfold: the learning rate is likely too large (the weights stay finite)."""


class TrainingDiverged(FloatingPointError, ValueError):
    """The loss or a gradient became NaN or infinite: training stopped and put back the last finite weights."""

    def __init__(self, message: str, history: History, epoch: int, step: int):
        super().__init__(message)
        self.history, self.epoch, self.step = history, epoch, step


def _integer(v, what: str, low: int) -> int:
    """v as an int >= low, or a ValueError/TypeError naming the setting."""
    import numbers

    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{what} must be an integer >= {low}; got {v!r} ({type(v).__name__})")
    if v < low:
        raise ValueError(f"{what} must be an integer >= {low}; got {v}")
    return int(v)


def _finite(v, what: str, hint: str) -> float:
    """v as a finite float >= 0, or a ValueError/TypeError naming the setting."""
    import math
    import numbers

    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{what} must be a number >= 0; got {v!r} ({type(v).__name__})")
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{what} must be a finite number >= 0 ({hint}); got {v}")
    return float(v)


def _check_settings(epochs, lr, batch_size, seed, weight_decay, checkpoint_epochs, progress) -> None:
    """A clear error for any bad training setting, before any weight changes."""
    epochs = _integer(epochs, "epochs", 0)
    _finite(lr, "lr", "the learning rate; the default is 3e-3")
    _integer(batch_size, "batch_size", 1)
    _finite(weight_decay, "weight_decay", "an L2 penalty, 0 for none")
    _integer(seed, "seed", -(2 ** 63))
    if checkpoint_epochs is not None:
        try:
            wanted = list(checkpoint_epochs)
        except TypeError:
            raise TypeError(f"checkpoint_epochs must be None or a list of epochs; got {checkpoint_epochs!r}") from None
        for e in wanted:
            if _integer(e, "each of checkpoint_epochs", 0) > epochs:
                raise ValueError(f"checkpoint_epochs has epoch {e} but training runs {epochs} epochs: "
                                 f"keep epochs in 0..{epochs} or train for more")
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise TypeError(f"progress must be None, True or a callable(done, total, info); got {progress!r}")


def _finite_step(loss: torch.Tensor, opt: Adam) -> bool:
    """Whether the loss and every gradient are finite (max-abs norms: huge finite gradients do not overflow)."""
    norms = torch._foreach_norm([p.grad for p in opt.params if p.grad is not None], float("inf"))
    worst = torch.stack([loss.detach().float().abs(), *(n.float().to(loss.device) for n in norms)]).amax()
    return bool(torch.isfinite(worst))


def _diverged(model, live, good, hist: History, lr: float, epoch: int, step: int, n_steps: int, what: str,
              value: float):
    """Put back the state before the last step taken and raise TrainingDiverged naming the epoch and step."""
    with torch.no_grad():
        torch._foreach_copy_(live, good)
    first = epoch == 1 and step == 1 and what != "the test loss"
    put_back = ("the weights it started with (they already give a non-finite loss on this data: check the model's "
                "weights and the inputs)" if first else "the weights before the step that produced it (the last "
                "finite ones)")
    kept = f"epochs 1-{hist.epochs[-1]}" if hist.epochs else "no epoch"
    raise TrainingDiverged(
        f"training diverged at epoch {epoch}, step {step} of {n_steps}: {what} became {value} (lr={lr:g} may be too "
        f"large; try a smaller one, e.g. 3e-3). Training stopped; the model has {put_back}; the history keeps "
        f"{kept}.", hist, epoch, step)


def step(model: nn.Module, opt, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, device,
         before_step=None) -> torch.Tensor:
    """One training step on the inputs idx of (x, y): cross-entropy, backward, before_step(loss) (the divergence
    guard: it may raise before the weights change) and opt's step; the loss."""
    xb, yb = as_model_input(x[idx], model, "inputs").to(device), y[idx].to(device)
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if before_step is not None:
        before_step(loss)
    opt.step()
    return loss


def train(model: nn.Module, data, epochs: int = 15, lr: float = 3e-3, batch_size: int = 64, seed: int = 0,
          weight_decay: float = 0.0, checkpoint_epochs=None, progress=None) -> History:
    """Train with Adam on data's train split, shuffled by `seed`; checkpoint at epoch 0 and after each epoch.

    checkpoint_epochs: the epochs to keep (e.g. [0, 1, 3, 6, 10]); None keeps all, [] none.
    progress: None (silent), True (a tqdm.auto bar) or a callable(done, total, info) called after each batch.
    The model's training mode is restored afterwards; the global RNG is untouched. Every setting is checked
    before any weight changes (a ValueError or TypeError naming it). If the loss or a gradient turns NaN or
    infinite, training stops, the weights (and buffers) before the step that produced it are put back and
    TrainingDiverged is raised naming the epoch and step; its .history has the epochs completed.
    """
    import time

    _check_settings(epochs, lr, batch_size, seed, weight_decay, checkpoint_epochs, progress)
    check_model(model)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{type(model).__name__} has no trainable parameters (none requires grad): nothing to train")
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
    live = [*model.parameters(), *model.buffers()]
    with torch.no_grad():  # the state before the last step taken (one copy), put back if the loss turns non-finite
        good = [t.detach().clone() for t in live]
    start_loss, warned = None, False
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(x), generator=gen)
            running = 0.0
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]

                def guard(loss, epoch=epoch, b=b):
                    if not _finite_step(loss, opt):  # one sync, as loss.item() below
                        _diverged(model, live, good, hist, lr, epoch, b + 1, n_batches,
                                  "the loss" if not torch.isfinite(loss) else "a gradient", loss.item())
                    with torch.no_grad():
                        torch._foreach_copy_(good, live)
                loss = step(model, opt, x, y, idx, device, guard)
                running += loss.item() * len(idx)
                if start_loss is None:  # the first loss, or chance level (log K) if lower, is the scale of "large"
                    start_loss = max(loss.item(), math.log(max(int(y.max()) + 1, 2)))
                elif not warned and loss.item() > 100 * start_loss:
                    warned = True
                    warnings.warn(f"the training loss reached {loss.item():.3g} at epoch {epoch}, step {b + 1} of "
                                  f"{n_batches} (it started at {start_loss:.3g}): lr={lr:g} is likely too large and "
                                  f"training is diverging; try a smaller lr, e.g. 3e-3", DivergenceWarning,
                                  stacklevel=2)
                report((epoch - 1) * n_batches + b + 1, {"epoch": epoch, "loss": round(loss.item(), 4)})
            ev = evaluate(model, x_test, y_test)
            if not math.isfinite(ev.loss):  # the epoch's last step made weights whose test loss is NaN or inf
                _diverged(model, live, good, hist, lr, epoch, n_batches, n_batches, "the test loss", ev.loss)
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
