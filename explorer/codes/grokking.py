"""Grokking and delayed robustness (Humayun, Balestriero, Baraniuk 2024): train an MLP far past interpolation and
follow train/test/adversarial accuracy and local complexity at train, test and random points on a log-step axis;
the exact-grid regions on a plane through training points at any kept checkpoint."""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..data import stratified_indices
from ..geometry.plane import plane_through
from ..geometry.regions import GridRegions, grid_regions
from ..jobs import Estimate, Job, key
from ..optim import Adam
from .complexity import local_complexity
from .pgd import adversarial_accuracy
from .sweep import seeded_mlp

CURVES = ("train accuracy", "test accuracy", "adversarial accuracy", "LC train", "LC test", "LC random")


def log_steps(total: int, count: int) -> list[int]:
    """Step 0, then `count` steps log-spaced from 1 to total (rounded, repeats dropped): (1000, 4) -> 0, 1, 10, 100,
    1000."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ValueError(f"total steps must be an integer >= 1; got {total!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1; got {count!r}")
    return [0, *dict.fromkeys(int(round(s)) for s in np.geomspace(1, total, count))]


@dataclass(frozen=True)
class Settings:
    """A grokking run: the paper's MNIST MLP recipe (width 200, AdamW lr 1e-3 wd 0.01, batch 200, MSE on one-hot)."""

    steps: int = 2000  # optimisation steps
    checkpoints: int = 16  # log-spaced checkpoints after step 0
    width: int = 200
    depth: int = 3  # hidden layers
    lr: float = 1e-3
    weight_decay: float = 0.01  # decoupled (AdamW)
    batch_size: int = 200
    loss: str = "mse"  # "mse" on one-hot targets (the paper) or "ce"
    train_points: int | None = None  # a stratified sample of the train split (None: all)
    eval_points: int = 500  # test inputs for test and adversarial accuracy; LC points per split
    epsilon: float = 0.1  # PGD's L-inf radius, on the images' [0, 1] scale
    pgd_steps: int = 10
    radius: float = 0.1  # local complexity's cross-polytope
    n_vertices: int = 20
    seed: int = 0


@dataclass(eq=False)
class Run:
    """What a run produced: per-checkpoint rows, the kept states, and the inputs they were measured on."""

    settings: Settings
    key: tuple
    shape: tuple
    n_classes: int
    bounds: tuple[float, float]  # the images' range: PGD stays inside it, random points are drawn in it
    x: dict[str, torch.Tensor]  # "train" (the trained-on sample), "test", "random" (eval_points of each)
    y: dict[str, torch.Tensor]
    steps: list[int] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    states: list[dict] = field(default_factory=list)
    x_train: torch.Tensor | None = None  # every trained-on image (train accuracy is measured on all of them)
    y_train: torch.Tensor | None = None

    def model(self, index: int = -1):
        """A new MLP with the weights of checkpoint `index`, in eval mode."""
        s = self.settings
        m = seeded_mlp(self.shape, s.width, s.depth, self.n_classes, s.seed)
        m.load_state_dict(self.states[index])
        return m.eval()

    def curve(self, name: str) -> np.ndarray:
        """(checkpoints,) values of one of CURVES."""
        return np.array([r[name] for r in self.rows])


def _inputs(data, s: Settings):
    """The images (not the standardised inputs: the paper attacks pixels in [0, 1]) of the samples a run uses."""
    xtr, ytr = data.images("train"), data.labels("train")
    idx = stratified_indices(ytr, s.train_points, s.seed) if s.train_points else np.arange(len(ytr))
    xtr, ytr = xtr[torch.from_numpy(idx)], ytr[torch.from_numpy(idx)]
    xte, yte = data.images("test"), data.labels("test")
    te = torch.from_numpy(stratified_indices(yte, s.eval_points, s.seed))
    lo, hi = float(min(xtr.min(), xte.min())), float(max(xtr.max(), xte.max()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("the images contain NaN or inf")
    gen = torch.Generator().manual_seed(s.seed)
    rand = lo + (hi - lo) * torch.rand((s.eval_points, *xtr.shape[1:]), generator=gen)
    sub = torch.from_numpy(stratified_indices(ytr, s.eval_points, s.seed))
    return xtr.float(), ytr, {"train": xtr[sub].float(), "test": xte[te].float(), "random": rand}, \
        {"train": ytr[sub], "test": yte[te]}, (lo, hi)


@torch.no_grad()
def _accuracy(model, x, y) -> float:
    return (model(x).argmax(1) == y).float().mean().item()


def measure(run: Run, model) -> dict:
    """One checkpoint's row: accuracies (the train one on every trained-on input) and mean local complexity."""
    s, x, y = run.settings, run.x, run.y
    row = {"train accuracy": _accuracy(model, run.x_train, run.y_train),
           "test accuracy": _accuracy(model, x["test"], y["test"]),
           "adversarial accuracy": float(adversarial_accuracy(model, x["test"], y["test"], [s.epsilon], s.pgd_steps,
                                                              seed=s.seed, bounds=run.bounds)[0])}
    for split in ("train", "test", "random"):
        row[f"LC {split}"] = float(local_complexity(model, x[split], None, s.radius, s.n_vertices, s.seed)
                                   ["total"].mean())
    return row


def train_run(data, settings: Settings = Settings(), progress=None, run_key: tuple = ()) -> Run:
    """Train a seeded MLP on data's images for settings.steps steps (AdamW, shuffled each epoch) and measure
    (measure()) at each of log_steps(steps, checkpoints); progress(step, steps, {"partial": rows so far}) after each."""
    s = settings
    if s.loss not in ("mse", "ce"):
        raise ValueError(f"loss must be 'mse' or 'ce'; got {s.loss!r}")
    xtr, ytr, x, y, bounds = _inputs(data, s)
    run = Run(s, run_key, tuple(xtr.shape[1:]), data.n_classes, bounds, x, y, x_train=xtr, y_train=ytr)
    model = seeded_mlp(run.shape, s.width, s.depth, data.n_classes, s.seed)
    opt = Adam(model.parameters(), lr=s.lr)
    params = list(opt.params)
    gen = torch.Generator().manual_seed(s.seed)
    wanted, order, pos = set(log_steps(s.steps, s.checkpoints)), torch.zeros(0, dtype=torch.long), 0
    report = progress or (lambda *a: None)
    for step in range(s.steps + 1):
        if step in wanted:
            run.steps.append(step)
            run.states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            run.rows.append({"step": step, **measure(run, model.eval())})
            report(step, s.steps, {"step": step, "partial": list(run.rows)})
        elif step % 50 == 0:
            report(step, s.steps, {"step": step})  # a cancel stops within 50 steps
        if step == s.steps:
            break
        if pos + s.batch_size > len(order):  # a new epoch: a fresh seeded order
            order, pos = torch.randperm(len(xtr), generator=gen), 0
        idx = order[pos:pos + s.batch_size]
        pos += s.batch_size
        _step(model, opt, params, xtr[idx], ytr[idx], s, data.n_classes)
    return run


def _step(model, opt, params, xb, yb, s: Settings, n_classes: int) -> None:
    """One AdamW step on a batch (MSE on one-hot targets, or cross-entropy)."""
    logits = model.train()(xb)
    loss = F.mse_loss(logits, F.one_hot(yb, n_classes).float()) if s.loss == "mse" else F.cross_entropy(logits, yb)
    opt.zero_grad()
    loss.backward()
    with torch.no_grad():  # AdamW: decay decoupled from the adaptive step
        torch._foreach_mul_(params, 1 - s.lr * s.weight_decay)
    opt.step()


def estimate(data, settings: Settings = Settings(), probe: int = 16) -> Estimate:
    """A run's cost before it starts, timed on the caller's thread in a few tens of ms: three training steps of the
    run's MLP and one checkpoint's measurement on `probe` points of each split, scaled to the steps and checkpoints
    and to eval_points (PGD and local complexity are linear in the points); memory: the kept states."""
    s = dataclasses.replace(settings, eval_points=min(settings.eval_points, probe))
    xtr, ytr, x, y, bounds = _inputs(data, s)
    run = Run(s, (), tuple(xtr.shape[1:]), data.n_classes, bounds, x, y, x_train=xtr, y_train=ytr)
    model = seeded_mlp(run.shape, s.width, s.depth, data.n_classes, s.seed)
    opt = Adam(model.parameters(), lr=s.lr)
    xb, yb = xtr[:s.batch_size], ytr[:s.batch_size]
    _step(model, opt, list(opt.params), xb, yb, s, data.n_classes)  # warm-up: the first call pays allocations
    start = time.perf_counter()
    for _ in range(3):
        _step(model, opt, list(opt.params), xb, yb, s, data.n_classes)
    step = (time.perf_counter() - start) / 3
    start = time.perf_counter()
    measure(run, model.eval())
    check = (time.perf_counter() - start) * settings.eval_points / s.eval_points
    points = len(log_steps(settings.steps, settings.checkpoints))
    kept = points * sum(p.numel() * p.element_size() for p in model.parameters())
    return Estimate(settings.steps * step + points * check, kept + xtr.numel() * 4,
                    f"{settings.steps:,} steps and {points} checkpoints, timed on 3 steps and one checkpoint")


def grokking_job(data, settings: Settings = Settings()) -> Job:
    """train_run as a job: its own model (nothing of the user's to prepare), partial runs streamed."""
    k = key("grokking", vars(settings))
    return Job(k, lambda: None, lambda _, progress: train_run(data, settings, progress, k), "grokking run",
               estimate=lambda: estimate(data, settings))


def anchors(run: Run) -> tuple[int, int, int]:
    """Three trained-on inputs of different classes (the first of each of three classes): the regions' plane."""
    y = run.y["train"].numpy()
    found = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)[:3]]
    if len(found) < 3:
        raise ValueError("the regions' plane needs training inputs of three classes")
    return tuple(found)


@dataclass(eq=False)
class AtCheckpoint:
    """A checkpoint's adversarial accuracy at one epsilon and its regions on the plane through three train inputs."""

    index: int
    step: int
    epsilon: float
    adversarial: float
    regions: GridRegions
    near: float  # mean distinct regions within `near_radius` of the three anchors


def at_checkpoint(run: Run, index: int, epsilon: float, resolution: int = 100, progress=None) -> AtCheckpoint:
    """PGD at epsilon on the run's test sample and the grid regions (every layer) of checkpoint `index`."""
    if not -len(run.states) <= index < len(run.states):
        raise ValueError(f"checkpoint must be 0..{len(run.states) - 1}; got {index}")
    model, s = run.model(index), run.settings
    acc = float(adversarial_accuracy(model, run.x["test"], run.y["test"], [epsilon], s.pgd_steps, seed=s.seed,
                                     bounds=run.bounds)[0])
    plane = plane_through(*(run.x["train"][i] for i in anchors(run)))
    r = grid_regions(model, plane, resolution)
    u0, u1, _, _ = plane.bounds()
    return AtCheckpoint(index % len(run.states), run.steps[index], float(epsilon), acc, r,
                        float(r.density(0.05 * (u1 - u0)).mean()))


def at_checkpoint_job(run: Run, index: int, epsilon: float, resolution: int = 100) -> Job:
    """at_checkpoint as a job (the run's own models)."""
    return Job(key("grokking-at", run.key, index, epsilon, resolution), lambda: None,
               lambda _, progress: at_checkpoint(run, index, epsilon, resolution, progress), "checkpoint")
