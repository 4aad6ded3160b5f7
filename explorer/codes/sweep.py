"""Phase chart (He et al. 2021): redundancy and k-NN accuracy over width, training time and sample size."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ..device import one_thread
from .extract import activation_codes
from .knn import knn_accuracy
from .metrics import redundancy

REGIMES = ("under-expressive", "critically-expressive", "sufficiently-expressive")
# A quick grid for digits on a CPU (about a minute), and the paper's MNIST grid (a GPU, or a cluster backend).
PRESETS = {
    "quick (digits, CPU)": dict(widths=(2, 4, 8, 16, 32, 64), epochs=(0, 1, 3, 10), sizes=(100, 400, 1347)),
    "paper (MNIST, GPU)": dict(widths=(3, 7, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100),
                               epochs=(0, 1, 3, 6, 10, 20, 40, 60, 100, 200),
                               sizes=(10, 100, 1000, 5000, 10000, 20000, 40000)),
}


def _subset(data, n: int):
    """The first n training samples (the paper's sample-size runs); the test split unchanged."""
    if not 9 <= n <= len(data.y["train"]):
        raise ValueError(f"sample size {n} must be between 9 and {len(data.y['train'])}")
    return dataclasses.replace(data, x={**data.x, "train": data.x["train"][:n]},
                               y={**data.y, "train": data.y["train"][:n]})


def seeded_mlp(shape, width: int, depth: int, n_classes: int, seed: int):
    """An MLP with PyTorch's default Linear init drawn from its own generator (threads share the global RNG, which
    this leaves alone)."""
    from ..models import MLP

    with torch.device("meta"):  # built without weights: nn.Linear's own init would draw from the global RNG
        model = MLP(shape, width=width, depth=depth, n_classes=n_classes).to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
                bound = 1 / math.sqrt(m.in_features)
                m.bias.uniform_(-bound, bound, generator=g)
    return model


def _run(data, width: int, n: int, epochs: tuple, depth: int, seed: int, lr: float, k: int) -> list:
    """Train one MLP on n samples; (redundancy ratio test, k-NN accuracy) at each epoch in `epochs`."""
    from ..train import train

    sub = _subset(data, n)
    model = seeded_mlp(sub.shape, width, depth, sub.n_classes, seed)
    hist = train(model, sub, epochs=max(epochs), lr=lr, seed=seed, checkpoint_epochs=list(epochs))
    out = []
    for _, state in hist.checkpoints:
        model.load_state_dict(state)
        tr, te = activation_codes(model, sub.inputs("train")), activation_codes(model, sub.inputs("test"))
        out.append((redundancy(te)["redundancy ratio"],
                    knn_accuracy(tr, sub.labels("train").numpy(), te, sub.labels("test").numpy(), min(k, n))))
    return out


def _task(data, job: tuple) -> list:
    """One engine task: _run on the shared data for job = (width, n, epochs, depth, seed, lr, k), torch on one
    intra-op thread (the worker's count restored after): a worker whose environment does not set
    OMP_NUM_THREADS=1 (a `dask worker` without its nanny, a Ray actor, a plain process) starts torch on every core,
    and each of W such workers on a machine of W cores would run W threads."""
    with one_thread():
        return _run(data, *job)


def sweep(data, widths=(4, 8, 16, 32, 64), epochs=(0, 1, 5, 20), sizes=None, depth: int = 1, seed: int = 0,
          lr: float = 3e-3, k: int = 9, n_jobs: int = 1, backend: str = "loky", progress=None, engine=None,
          on_result=None) -> dict:
    """Grids (widths x epochs x sizes) of test redundancy ratio and k-NN accuracy, one MLP per (width, size).

    Each training is a task on `engine` (see explorer.engines: a joblib backend name, a Dask Client or
    'tcp://...' address, Ray); None uses joblib's `backend` with `n_jobs`. The data goes to the workers once.
    As each training finishes: on_result(cell) with cell = {'width', 'size', 'epochs', 'redundancy ratio',
    'k-NN'} (one value per epoch) and progress(done, total, {'width', 'size'}). The same seed gives the same
    grid on every engine. While it runs, torch in this process uses one thread (restored after). A lost worker
    raises explorer.engines.EngineError whose `.partial` is this grid with NaN where the training did not finish.
    """
    from ..engines import EngineError, map_tasks

    sizes = tuple(min(n, len(data.y["train"])) for n in (sizes or (len(data.y["train"]),)))
    sizes = tuple(dict.fromkeys(sizes))  # a preset's sizes capped at the data's, without repeats
    epochs = tuple(sorted(set(epochs)))
    for n in sizes:
        _subset(data, n)  # bad sizes fail here, before any worker starts
    jobs = [(w, n) for w in widths for n in sizes]
    rr = np.full((len(widths), len(epochs), len(sizes)), np.nan)
    acc = rr.copy()
    grid = {"widths": tuple(widths), "epochs": epochs, "sizes": sizes, "redundancy ratio": rr, "k-NN": acc}
    count = [0]

    def finished(index, res):  # results arrive as they finish, so the progress bar and chart move with the sweep
        w, n = jobs[index]
        i, j = widths.index(w), sizes.index(n)
        rr[i, :, j], acc[i, :, j] = np.array(res).T
        count[0] += 1
        if on_result is not None:
            on_result({"width": w, "size": n, "epochs": epochs, "redundancy ratio": rr[i, :, j].copy(),
                       "k-NN": acc[i, :, j].copy()})
        if progress is not None:
            progress(count[0], len(jobs), {"width": w, "size": n})
    # The trainings are the parallelism: each is a tiny MLP whose ops gain nothing from torch's threads, and a kernel's
    # default (one per core) made a sequential sweep 13-27x slower on a loaded 2-core machine (benchmarks/
    # RESULTS_engines.md). Workers of Dask, Ray and loky already start torch on one thread.
    try:
        with one_thread():
            map_tasks(backend if engine is None else engine, _task,
                      [(w, n, epochs, depth, seed, lr, k) for w, n in jobs], shared=data, on_result=finished,
                      n_jobs=n_jobs)
    except EngineError as err:
        raise EngineError(f"sweep stopped: {err}", partial=grid) from err
    return grid


def regimes(rr: np.ndarray, acc: np.ndarray, rr_max: float = 0.01, acc_margin: float = 0.005) -> np.ndarray:
    """explorer's own regime labels (thresholds are settable; the paper gives no numbers): under-expressive where
    the redundancy ratio exceeds rr_max, sufficiently-expressive where it does not and the accuracy is within
    acc_margin of the grid's best, critically-expressive otherwise."""
    rr, acc = np.asarray(rr), np.asarray(acc)
    out = np.where(rr > rr_max, 0, np.where(acc >= acc.max() - acc_margin, 2, 1))
    return np.asarray(REGIMES, dtype=object)[out]
