"""Session: the one holder of model, data, device, training history and a memo of results."""
from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .capture import eval_mode
from .data import ImageSet, as_model_input, check_model, load_dataset
from .device import model_device, pick_device
from .executor import Executor, Ticket, after_each_cell
from .jobs import Estimate, Job, duration, key, private_copy, size
from .models import build_model
from .train import Evaluation, History, TrainingDiverged, evaluate, train
from .weights import weights_token


class Session:
    """Model, data and a bounded memo keyed by every input and by the state of the weights.

    Panels read from a Session; it holds no widget. Build one with Session.open(...) or
    Session(model, data) for your own model (move it to its device first). A model whose output is not logits
    (N, classes) (a segmentation dict, an embedding, a single logit, detections) needs target=: what its saliency
    maps explain, a kind the saliency lab offers ('segmentation', 'similarity', 'binary', 'detection') or a Target
    object (explorer.saliency.SemanticSegmentationTarget, ...); the labs that need logits refuse such a model.
    """

    time_budget: float = 30.0  # seconds: a job estimated longer runs, and the panels' bar says it is over budget
    memory_budget: int | None = None  # bytes a job may take; None: what the device has available now

    def __init__(self, model: nn.Module, data: ImageSet, history: History | None = None, memo_size: int = 256,
                 executor: Executor | None = None, target=None):
        self.model = model
        self.target = target  # None: the model's logits (N, classes); else what saliency explains (see above)
        self.data = data
        self.history = history or History()
        self.memo_size = memo_size
        self.executor = executor  # made on first use; checkpoint sessions share their parent's
        self._memo: OrderedDict = OrderedDict()
        self._estimates: dict = {}
        self._checkpoints: OrderedDict = OrderedDict()
        self._watchers: list = []
        self._seen = None  # the weights token the watchers were last told of
        self.hits = self.misses = 0

    @classmethod
    def open(cls, dataset: str | ImageSet = "digits", model: str | nn.Module = "cnn", device: str | None = None,
             epochs: int = 0, seed: int = 0, progress=None, data_kwargs: dict | None = None, target=None,
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
        target : None for a classifier; else what saliency explains for a model whose output is not logits
            (N, classes): 'segmentation', 'similarity', 'binary', 'detection', or a Target object.
        """
        data = dataset if isinstance(dataset, ImageSet) else load_dataset(dataset, **(data_kwargs or {}))
        net = model if isinstance(model, nn.Module) else build_model(model, data, seed=seed, **model_kwargs)
        check_model(net)
        net = net.to(pick_device(device))
        if not isinstance(model, nn.Module):
            net.eval()  # a model built here starts in eval mode; the user's own keeps its modes (labs use eval_mode)
        session = cls(net, data, target=target)
        session.check()
        if epochs:
            session.train(epochs=epochs, seed=seed, progress=progress)
        return session

    @property
    def device(self) -> torch.device:
        """The model's device: everything follows it."""
        return model_device(self.model)

    def state(self) -> tuple:
        """The weights token (explorer.weights): it changes with every change of the weights, buffers, modes or
        modules, including writes no version counter sees."""
        return weights_token(self.model)

    def full_key(self, key: tuple) -> tuple:
        """key with the weights' state and the dataset now: what a result computed now is filed under."""
        return (self.state(), id(self.data), *key)

    def lookup(self, full: tuple) -> tuple[bool, Any]:
        """(True, value) if a result is stored under this full key, else (False, None)."""
        if full in self._memo:
            self.hits += 1
            self._memo.move_to_end(full)
            return True, self._memo[full]
        return False, None

    def store(self, full: tuple, value: Any) -> Any:
        """File value under a full key (taken when its computation was requested); the oldest go past memo_size."""
        self._memo[full] = value
        self._memo.move_to_end(full)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return value

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """compute() once per (key, model state, dataset); later calls return the stored result."""
        full = self.full_key(key)
        found, value = self.lookup(full)
        if found:
            return value
        self.misses += 1
        return self.store(full, compute())

    def known(self, key: tuple) -> bool:
        """Whether memo(key, ...) would return a stored result now (no compute)."""
        return self.full_key(key) in self._memo

    def estimate(self, job: Job) -> Estimate | None:
        """What computing job would cost (seconds, bytes) before it runs; None for a job without an estimate.
        Kept per job key and weights (the panel's bar and the run ask for the same one: it is timed once)."""
        if job.estimate is None:
            return None
        full = ("estimate", *self.full_key(job.key))
        if full not in self._estimates:
            while len(self._estimates) >= 64:  # a few dozen jobs are on screen at most
                self._estimates.pop(next(iter(self._estimates)))
            self._estimates[full] = job.estimate()
        return self._estimates[full]

    def available_bytes(self) -> int:
        """The memory a job may take: memory_budget, capped by what the model's device has available now."""
        from .device import free_bytes

        free = free_bytes(self.device)
        return free if self.memory_budget is None else min(free, int(self.memory_budget))

    def admit(self, job: Job) -> Estimate | None:
        """The job's estimate; MemoryError naming it when it needs more memory than is available (nothing ran)."""
        try:
            est = self.estimate(job)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - an estimate that fails must not stop the job: its own run says what is wrong
            est = None
        if est is not None and est.bytes > (free := self.available_bytes()):
            raise MemoryError(f"the {job.title or 'job'} needs about {size(est.bytes)} ({est.what}) but only "
                              f"{size(free)} are available on {self.device}: ask for fewer inputs, points or "
                              f"cells (it would also take about {duration(est.seconds)})")
        return est

    def jobs(self) -> Executor:
        """The executor of this session's jobs (and of its checkpoint sessions')."""
        if self.executor is None:
            self.executor = Executor()
        return self.executor

    def run(self, job: Job, progress=None) -> Any:
        """A lab's job, synchronously: the stored result, or prepare() and compute() here, filed under the weights'
        token at the request (submit does the same off the kernel's thread). A job whose estimate does not fit
        in memory raises MemoryError before it starts (see admit)."""
        return self.jobs().run(self, job, progress)

    def submit(self, job: Job, on_done: Callable, on_failed: Callable | None = None, progress=None,
               owner=None) -> Ticket:
        """Run a job for a panel: on_done(result, ticket) with the stored result at once, else prepare() here and
        compute() on the executor's worker in a kernel (here and now elsewhere), then on_done on the kernel's loop
        if the weights are still those of the request (else it runs again). progress: a callable(done, total,
        info), optionally with start/finish/refuse (a JobBar). Per owner one job runs; a new request supersedes it
        (explorer.executor)."""
        return self.jobs().submit(self, job, on_done, on_failed, progress, owner)

    def watch(self, fn: Callable) -> None:
        """Call fn() when the weights token changes (seen by changed(): after training, a notebook cell, a request).
        Held weakly for bound methods, so a closed view is not kept alive."""
        self._watchers.append(weakref.WeakMethod(fn) if hasattr(fn, "__self__") else (lambda: fn))
        if self._seen is None:
            self._seen = (self.state(), id(self.history))
            after_each_cell(weakref.WeakMethod(self.changed))  # a change made in a notebook cell is seen after it

    def changed(self) -> bool:
        """Whether the weights (or the training's history) changed since the watchers were last told; tells them
        if so."""
        if not self._watchers:
            return False
        seen = (self.state(), id(self.history))  # new weights, or a new training's checkpoints
        if seen == self._seen:
            return False
        self._seen = seen
        for ref in list(self._watchers):
            fn = ref()
            if fn is None:
                self._watchers.remove(ref)
            else:
                fn()
        return True

    def at(self, checkpoint: int) -> Session:
        """A session on a copy of the model at the history's checkpoint (the user's model is never loaded): its
        own memo and weights token, the same data and executor; the last three are kept."""
        key = (id(self.history), len(self.history.checkpoints), checkpoint)
        if key not in self._checkpoints:
            if not 0 <= checkpoint < len(self.history.checkpoints):
                raise IndexError(f"checkpoint {checkpoint} does not exist: this session's training kept "
                                 f"{len(self.history.checkpoints)} (train again, or choose 'now')")
            model = private_copy(self.model)
            model.load_state_dict(self.history.checkpoints[checkpoint][1])
            self._checkpoints[key] = Session(model, self.data, executor=self.jobs(), target=self.target)
            while len(self._checkpoints) > 3:  # a few copies (and their memos): memory stays bounded
                self._checkpoints.popitem(last=False)
        return self._checkpoints[key]

    @torch.no_grad()
    def check(self) -> None:
        """Run two images through the model: a clear error if it does not take this data (mode restored)."""
        check_model(self.model)
        x = as_model_input(self.data.inputs("test")[:2], self.model, "inputs").to(self.device)
        try:
            with eval_mode(self.model):
                out = self.model(x)
        except Exception as err:  # noqa: BLE001 - re-raised with what the user needs to know
            raise ValueError(f"the model does not accept {self.data.name!r} images of shape {tuple(x.shape[1:])} "
                             f"(C, H, W): {err}") from err
        if self.target is not None:  # not a classifier: a target says what to explain
            if callable(self.target) and not isinstance(self.target, str):
                scores = self.target(out)
                if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (len(x),):
                    raise ValueError(f"the target {self.target!r} should give one score per image ({len(x)},); "
                                     f"it gave {getattr(scores, 'shape', type(scores).__name__)}")
            return
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != self.data.n_classes:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the model should return logits of shape (N, {self.data.n_classes}) for "
                             f"{self.data.n_classes} classes; it returned {shape}. A model that is not a classifier "
                             f"needs target=: 'segmentation', 'similarity', 'binary', 'detection' or a Target object")

    def train(self, epochs: int = 15, seed: int = 0, progress=None, **kwargs) -> History:
        """Train the model in place; keeps the history and its checkpoints for the labs, and tells the open views
        that the weights changed."""
        try:
            self.history = train(self.model, self.data, epochs=epochs, seed=seed, progress=progress, **kwargs)
        except TrainingDiverged as err:  # the epochs done, matching the weights it put back
            self.history = err.history
            raise
        finally:
            self.changed()
        return self.history

    def train_job(self, epochs: int = 15, seed: int = 0, **kwargs) -> Job:
        """Training as a job: a private copy trains off the kernel's thread (cancel leaves the model as it was);
        its commit puts the trained weights into the model on the kernel's thread, keeps the history and tells the
        open views."""
        from .estimates import training

        def compute(model, progress):
            try:
                return model, train(model, self.data, epochs=epochs, seed=seed, progress=progress, **kwargs), None
            except TrainingDiverged as err:  # the copy holds the last finite weights: they become the model's too
                return model, err.history, err

        def commit(result) -> History:
            model, history, diverged = result
            with torch.no_grad():
                self.model.load_state_dict(model.state_dict())
            self.history = history
            self.changed()
            if diverged is not None:
                raise diverged
            return history
        return Job(("train", epochs, seed, *key(kwargs)), lambda: private_copy(self.model), compute, "training",
                   lambda: training(self.model, self.data, epochs, kwargs.get("batch_size", 64)), store=False,
                   changes_weights=True, commit=commit)

    def evaluate(self, split: str = "test") -> Evaluation:
        """Loss, accuracy, predictions and probabilities on a split (memoised)."""
        return self.memo(("evaluate", split),
                         lambda: evaluate(self.model, self.data.inputs(split), self.data.labels(split)))

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"Session({type(self.model).__name__} with {n:,} parameters on {self.device}, {self.data!r})"
