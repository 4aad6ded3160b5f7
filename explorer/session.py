"""Session: the one holder of model, data, device, training history and a memo of results."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .data import ImageSet, as_model_input, check_model, load_dataset
from .device import model_device, pick_device
from .models import build_model
from .train import Evaluation, History, evaluate, train


class Session:
    """Model, data and a bounded memo keyed by every input and by the state of the weights.

    Panels read from a Session; it holds no widget. Build one with Session.open(...) or
    Session(model, data) for your own model (move it to its device first).
    """

    def __init__(self, model: nn.Module, data: ImageSet, history: History | None = None, memo_size: int = 256):
        self.model = model
        self.data = data
        self.history = history or History()
        self.memo_size = memo_size
        self._memo: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    @classmethod
    def open(cls, dataset: str | ImageSet = "digits", model: str | nn.Module = "cnn", device: str | None = None,
             epochs: int = 0, seed: int = 0, progress=None, data_kwargs: dict | None = None,
             **model_kwargs) -> Session:
        """Load a dataset and build (or take) a model on the picked device; train it if epochs > 0.

        Parameters
        ----------
        dataset : a name ('digits', 'block-digits', 'mnist', ...) or an ImageSet.
        model : 'cnn', 'mlp', a torchvision classifier name, or your own nn.Module (its training modes are kept;
            the labs run it in eval mode and restore them).
        device : 'auto' (default: CUDA, then MPS, then CPU), 'cpu', 'cuda', ... or $EXPLORER_DEVICE.
        epochs : training epochs to run now (0 keeps the weights as they are).
        seed : seeds the weights and the training order.
        progress : passed to train(): None, True (tqdm bar) or a callable(done, total, info).
        """
        data = dataset if isinstance(dataset, ImageSet) else load_dataset(dataset, **(data_kwargs or {}))
        net = model if isinstance(model, nn.Module) else build_model(model, data, seed=seed, **model_kwargs)
        check_model(net)
        net = net.to(pick_device(device))
        if not isinstance(model, nn.Module):
            net.eval()  # a model built here starts in eval mode; the user's own keeps its modes (labs use eval_mode)
        session = cls(net, data)
        session.check()
        if epochs:
            session.train(epochs=epochs, seed=seed, progress=progress)
        return session

    @property
    def device(self) -> torch.device:
        """The model's device: everything follows it."""
        return model_device(self.model)

    def state(self) -> tuple:
        """A token that changes whenever a parameter or buffer is changed in place (optimiser step, load)."""
        return (id(self.model), self.model.training,
                tuple(t._version for t in self.model.parameters()),
                tuple(t._version for t in self.model.buffers()))

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """compute() once per (key, model state, dataset); later calls return the stored result."""
        full = (self.state(), id(self.data), *key)
        if full in self._memo:
            self.hits += 1
            self._memo.move_to_end(full)
            return self._memo[full]
        self.misses += 1
        value = compute()
        self._memo[full] = value
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return value

    def known(self, key: tuple) -> bool:
        """Whether memo(key, ...) would return a stored result now (no compute)."""
        return (self.state(), id(self.data), *key) in self._memo

    @torch.no_grad()
    def check(self) -> None:
        """Run two images through the model: a clear error if it does not take this data (mode restored)."""
        from .train import eval_mode

        check_model(self.model)
        x = as_model_input(self.data.inputs("test")[:2], self.model, "inputs").to(self.device)
        try:
            with eval_mode(self.model):
                out = self.model(x)
        except Exception as err:  # noqa: BLE001 - re-raised with what the user needs to know
            raise ValueError(f"the model does not accept {self.data.name!r} images of shape {tuple(x.shape[1:])} "
                             f"(C, H, W): {err}") from err
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != self.data.n_classes:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the model should return logits of shape (N, {self.data.n_classes}) for "
                             f"{self.data.n_classes} classes; it returned {shape}")

    def train(self, epochs: int = 15, seed: int = 0, progress=None, **kwargs) -> History:
        """Train the model in place; keeps the history and its checkpoints for the labs."""
        self.history = train(self.model, self.data, epochs=epochs, seed=seed, progress=progress, **kwargs)
        return self.history

    def evaluate(self, split: str = "test") -> Evaluation:
        """Loss, accuracy, predictions and probabilities on a split (memoised)."""
        return self.memo(("evaluate", split),
                         lambda: evaluate(self.model, self.data.inputs(split), self.data.labels(split)))

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"Session({type(self.model).__name__} with {n:,} parameters on {self.device}, {self.data!r})"
