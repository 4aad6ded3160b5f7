"""What the labs' jobs share to estimate their cost (explorer.jobs.Estimate): passes timed once per session.

A job's estimate sits beside its compute, in the lab's core module; it counts the passes the job runs and prices
each with a calibration here. A calibration runs the pass the job runs (a forward, a forward and backward, a
training step, or the job's own function on a few inputs) after a warm-up call (the first call of a shape pays
allocations and oneDNN's kernel choice: 9x a later call on the default CNN), times the median of a few calls,
and is memoised in the session under the weights' token. A pass that would take over LIMIT seconds is timed on
fewer inputs and scaled linearly (such passes are compute-bound). Costs that are no pass of the model (imports,
numba's compilation, scikit-learn's fits) are CPU seconds measured on one core, scaled by the load now.
"""
from __future__ import annotations

import math
import os
import time

import torch

from .capture import eval_mode
from .data import as_model_input
from .device import model_device
from .jobs import Estimate

LIMIT = 0.25  # seconds: a longer pass is timed on fewer inputs and scaled by the batch
BUDGET = 0.05  # seconds of timed calls after a warm-up (at least 3 calls): a first estimate runs on the kernel's
# thread, and a 0.2 s budget made the first slice of a session block it for 0.5 s (the 250 ms ping goal of issue 21)
PROBE = 2  # inputs of the first (warm-up) call, which tells whether the job's batch is cheap enough to time
EVAL_BATCH = 512  # explorer.train.evaluate's batch
GEMM_RATE = 5e10  # float32 multiply-adds x 2 per CPU second of a large matrix product (numpy, one core, measured)


def load() -> float:
    """The 1-minute load average (runnable threads), as os.getloadavg() gives it (0 where there is none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def slowdown(seconds: float = 0.03) -> float:
    """How much longer one thread's work takes now than on an idle core: wall time over this thread's CPU time
    of a busy loop of `seconds`, at least 1. Measured, not read from the load average: that lags by a minute and
    counts threads that wait (it said 3x where a fit ran at 1.3x)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    while time.perf_counter() - wall < seconds:
        sum(range(1000))
    return max(1.0, (time.perf_counter() - wall) / max(time.thread_time() - cpu, 1e-6))


def cpu_seconds(seconds: float, factor: float | None = None) -> float:
    """Seconds of wall time now for work measured as CPU seconds on one idle core (factor: a slowdown() taken
    already)."""
    return seconds * (slowdown() if factor is None else factor)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(run, device) -> float:
    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - start


def _mean(run, device, calls: int = 3) -> float:
    """The mean of at least `calls` timed calls and as many more as BUDGET seconds allow: the mean, not the
    median, since a job's time includes the preemptions of a loaded machine (a 1.5 ms step took 5 ms one call in
    four at a load of 6 on 2 cores)."""
    times, start = [], time.perf_counter()
    while len(times) < calls or (time.perf_counter() - start < BUDGET and calls > 2):
        times.append(_clock(run, device))
        if times[-1] > 2 * LIMIT and len(times) >= 2:  # a pass that long: two calls say enough
            break
    return sum(times) / len(times)


def timed(make, batch: int, device=None) -> float:
    """Seconds of one pass over `batch` inputs: make(b) returns a call that runs the pass over b inputs.

    A first call (PROBE inputs) warms up; two more tell the cost: a batch predicted under LIMIT seconds is timed as
    it is; a longer one on as many inputs as take about LIMIT, extrapolated along the line through both timings
    (a pass costs a fixed part plus a part per input: the fixed part dominates small models and a loaded machine).
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    batch = max(1, int(batch))
    probe = min(batch, PROBE)
    run = make(probe)
    _clock(run, device)  # warm-up: first-call allocations and kernel choice
    small = _mean(run, device, 2)
    if probe == batch:
        return (small + 2 * _mean(run, device)) / 3
    b = batch if small * batch / probe <= LIMIT else min(batch, max(2 * probe, int(LIMIT * probe / small)))
    run = make(b)
    _clock(run, device)  # the warm-up of this shape
    big = _mean(run, device, 2)  # two calls after the warm-up: the first estimate runs on the kernel's thread
    if b == batch:
        return big
    return big + max(big - small, 0.0) / (b - probe) * (batch - b)  # the line through both (never falling)


def calibrated(session, key: tuple, make, batch: int, device=None) -> float:
    """timed(make, batch), once per session, weights and key (session None: timed now)."""
    if session is None:
        return timed(make, batch, device)
    return session.memo(("calibration", *key, int(batch)), lambda: timed(make, batch, device))


def repeat(x: torch.Tensor, n: int) -> torch.Tensor:
    """n inputs made of x's rows in turn (a pass over n inputs to time, from a few)."""
    return x[torch.arange(n) % len(x)]


def sample_size(data, split: str, n: int | None) -> int:
    """How many inputs data.sample(split, n) takes: all of the split for n None or n >= its size, else n (no
    sampling: what an estimate counts)."""
    total = len(data.labels(split))
    return total if n is None or n >= total else int(n)


def some_inputs(data, split: str = "test", n: int = 8) -> torch.Tensor:
    """The first n model inputs of a split, to time a pass on (not the job's sample: its count is what matters)."""
    x = data.images(split)[:n]
    return data.transform(x) if data.transform is not None else data.normalize(x)


def _pass(model, x, kind: str):
    """make(b) for a pass over b inputs like x: 'forward' (eval, no gradient), 'evaluate' (explorer.train.evaluate),
    'gradient' (eval, forward and backward to copies of the parameters) or 'train' (explorer.train's step on a
    copy of the model in train mode), so the model's weights, buffers, .grad and modes stay as they were."""
    import copy

    from torch.func import functional_call

    from .optim import Adam
    from .train import evaluate, step

    device = model_device(model)
    x = as_model_input(x, model, "inputs")

    def make(b):
        xb = repeat(x, b).to(device)
        if kind == "forward":
            def run():
                with eval_mode(model), torch.no_grad():
                    model(xb)
            return run
        if kind == "evaluate":
            y = torch.zeros(b, dtype=torch.long)
            return lambda: evaluate(model, xb, y)
        if kind == "train":
            twin = copy.deepcopy(model).train()
            opt, y, idx = Adam(twin.parameters()), torch.zeros(b, dtype=torch.long), torch.arange(b)
            xc = repeat(x, b).cpu()  # train() indexes the CPU split and moves each batch

            def run():
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    step(twin, opt, xc, y, idx, device).item()
            return run
        leaves = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
        buffers = {n: t.detach() for n, t in model.named_buffers()}

        def run():
            with eval_mode(model), torch.enable_grad():
                out = functional_call(model, {**buffers, **leaves}, (xb,), tie_weights=False, strict=False)
                torch.autograd.grad(out.float().logsumexp(1).sum(), list(leaves.values()))
        return run
    return make


KINDS = ("forward", "evaluate", "gradient", "train")


def pass_seconds(model, x: torch.Tensor, batch: int, kind: str = "forward", session=None) -> float:
    """Seconds of one pass of the model over `batch` inputs like x (a few are enough): kind 'forward', 'evaluate',
    'gradient' or 'train' (see _pass); memoised in the session per kind, input shape and batch."""
    if kind not in KINDS:
        raise ValueError(f"unknown pass {kind!r}; choose one of {', '.join(KINDS)}")
    key = (kind, tuple(x.shape[1:]), str(x.dtype))
    if session is not None and model is not session.model:  # the memo is keyed by the session's weights only
        session = None
    return calibrated(session, key, lambda b: _pass(model, x, kind)(b), batch, model_device(model))


def over(n: int, batch: int, seconds_per_batch: float) -> float:
    """Seconds of n inputs in batches of `batch`: a last, partial batch costs a whole one (small passes are
    mostly their fixed part)."""
    return seconds_per_batch * math.ceil(n / max(batch, 1))


def forwards(model, x, n: int, batch: int = EVAL_BATCH, session=None) -> float:
    """Seconds of a forward over n inputs like x in batches of `batch` (evaluate's 512 by default)."""
    b = max(1, min(batch, n))
    return over(n, b, pass_seconds(model, x, b, "forward", session))


@torch.no_grad()
def activation_bytes(model, x: torch.Tensor) -> int:
    """Bytes of the largest and all leaf outputs for one input of x, summed: a per-sample memory estimate (the
    peak layer twice, for its input and output, plus a quarter of the rest as slack)."""
    sizes = []
    x1 = as_model_input(x[:1], model, "inputs").to(model_device(model))
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel() * o.element_size()))
             for m in model.modules() if not list(m.children())]
    try:
        with eval_mode(model):
            model(x1)
    finally:
        for h in hooks:
            h.remove()
    return 2 * max(sizes, default=0) + sum(sizes) // 4


def param_bytes(model) -> int:
    """Bytes of the parameters."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def train_seconds(model, x: torch.Tensor, n: int, epochs: int, n_test: int = 0, batch_size: int = 64,
                  session=None) -> float:
    """explorer.train.train on n inputs like x: per epoch ceil(n / batch_size) timed training steps (the last
    in proportion), the evaluation of n_test inputs and a CPU snapshot of the weights."""
    step = pass_seconds(model, x, min(batch_size, n), "train", session)
    epoch = over(n, min(batch_size, n), step)
    if n_test:  # evaluate's batches of EVAL_BATCH, timed as it runs them
        b = min(n_test, EVAL_BATCH)
        epoch += over(n_test, b, pass_seconds(model, x, b, "evaluate", session))
    return epochs * (epoch + param_bytes(model) / 2e9)  # the snapshot: a copy at about 2 GB/s


def training(model, data, epochs: int, batch_size: int = 64, session=None) -> Estimate:
    """Training model (or a copy of its architecture) for epochs on data's train split (explorer.train.train);
    session memoises the calibration."""
    n, n_test = len(data.labels("train")), len(data.labels("test"))
    x = some_inputs(data, "train")
    sec = train_seconds(model, x, n, epochs, n_test, batch_size, session)
    return Estimate(sec, 4 * param_bytes(model) + min(batch_size, n) * 3 * activation_bytes(model, x),
                    f"{epochs} epochs on {n:,} inputs")
