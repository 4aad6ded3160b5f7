"""The playground's model, its session, and training as a job that streams the exact regions every few steps."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data import from_arrays
from ..geometry.exact import ExactRegions, exact_regions
from ..geometry.plane import Plane
from ..jobs import Estimate, Job, private_copy
from ..session import Session
from ..train import evaluate
from .data import Points

ACTIVATIONS = {"relu": nn.ReLU, "leaky relu": lambda: nn.LeakyReLU(0.1)}
MARGIN = 0.25  # the drawn box: the points' box grown by a quarter of its larger side


def mlp(width: int = 8, depth: int = 2, activation: str = "relu", dropout: float = 0.0, n_classes: int = 2,
        seed: int = 0) -> nn.Sequential:
    """2 inputs, `depth` hidden layers of `width` units (Linear, activation, Dropout if dropout > 0), a read-out;
    weights drawn from `seed` (the global RNG untouched)."""
    for v, what in ((width, "width"), (depth, "depth")):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{what} must be an integer >= 1; got {v!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    if not (np.isfinite(dropout) and 0 <= dropout < 1):
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(1, depth + 1):
            layers += [(f"fc{i}", nn.Linear(2 if i == 1 else width, width)), (f"act{i}", ACTIVATIONS[activation]())]
            if dropout > 0:
                layers.append((f"drop{i}", nn.Dropout(dropout)))
        layers.append(("out", nn.Linear(width, n_classes)))
        return nn.Sequential(OrderedDict(layers))


def input_plane(x) -> Plane:
    """The input space itself as a plane (origin 0, the unit axes; inputs are (1, 1, 2) 'images'), anchored at the
    points x (N, 2) (or (N, 1, 1, 2)): its bounds() is their box."""
    anchors = np.asarray(x, dtype=np.float64).reshape(-1, 2)
    return Plane(torch.zeros(1, 1, 2), torch.eye(2).view(2, 1, 1, 2), anchors)


def all_points(session: Session) -> tuple[np.ndarray, np.ndarray]:
    """Every point of a playground session (train then test) as (N, 2) float and (N,) int arrays."""
    d = session.data
    x = torch.cat([d.inputs("train"), d.inputs("test")]).reshape(-1, 2).numpy()
    return x, torch.cat([d.labels("train"), d.labels("test")]).numpy()


def playground(pts: Points, width: int = 8, depth: int = 2, activation: str = "relu", dropout: float = 0.0,
               seed: int = 0, test_fraction: float = 0.2, executor=None) -> Session:
    """A session on the points (a seeded, stratified test split held out) and a fresh seeded MLP, in eval mode."""
    data = from_arrays(pts.x.reshape(-1, 1, 1, 2), pts.y, classes=pts.classes, name=pts.name,
                       test_fraction=test_fraction, seed=0)
    model = mlp(width, depth, activation, dropout, len(pts.classes), seed).eval()
    return Session(model, data, executor=executor)


@dataclass(eq=False)
class Snapshot:
    """The network at one step of training: its exact regions on the box, the decision map, loss and accuracy."""

    step: int
    total: int
    loss: float  # the last batch's training loss (nan before the first step)
    accuracy: float  # on the train split, in eval mode
    regions: ExactRegions
    pieces: list  # the exact decision map: convex polygons, one class each (ExactRegions.class_pieces)
    classes: np.ndarray  # (n_pieces,) int
    boundary: list  # (2, 2) segments of the decision boundary


@torch.no_grad()
def snapshot(model: nn.Module, plane: Plane, bounds, x: torch.Tensor, y: torch.Tensor, step: int = 0,
             total: int = 0, loss: float = float("nan")) -> Snapshot:
    """The exact regions and decision boundary of model on bounds, with its accuracy on (x, y); the model's weights
    and modes are left as they were."""
    regions = exact_regions(model, plane, bounds)
    pieces, classes = regions.class_pieces()
    acc = evaluate(model, x, y).accuracy
    return Snapshot(step, total, loss, acc, regions, pieces, classes, [s for _, _, s in regions.decision_segments()])


def train_job(session: Session, epochs: int = 50, every: int = 10, lr: float = 0.01, batch_size: int = 16,
              weight_decay: float = 0.0, seed: int = 0) -> Job:
    """Session.train_job (a private copy trains; commit puts its weights into the model) whose progress carries a
    Snapshot as {"partial": ...} at the start, every `every` steps and at the end."""
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be an integer >= 1 (steps between snapshots); got {every!r}")
    base = session.train_job(epochs, seed, lr=lr, batch_size=batch_size, weight_decay=weight_decay)
    plane = input_plane(all_points(session)[0])
    bounds = plane.bounds(MARGIN)
    x, y = session.data.inputs("train"), session.data.labels("train")
    total = epochs * -(-len(x) // batch_size)

    def compute(model, progress):
        progress(0, total, {"partial": snapshot(model, plane, bounds, x, y, 0, total)})

        def watch(done, total, info=None):
            if done % every and done != total:
                return progress(done, total, info)
            loss = (info or {}).get("loss", float("nan"))
            progress(done, total, {**(info or {}), "partial": snapshot(model, plane, bounds, x, y, done, total, loss)})
        return base.compute(model, watch)
    def estimate():  # the training's, plus its snapshots: one timed here (on the model as it is)
        import time

        start = time.perf_counter()
        snapshot(session.model, plane, bounds, x, y)
        n = total // every + 2
        return base.estimate() + Estimate(n * (time.perf_counter() - start), 0, f"{n} exact-region snapshots")
    return Job((*base.key, "playground", every), base.prepare, compute, "training", estimate, store=False,
               changes_weights=True, commit=base.commit)


def snapshot_job(session: Session) -> Job:
    """The snapshot of the session's model now (on a private copy), filed under its weights."""
    plane = input_plane(all_points(session)[0])
    bounds = plane.bounds(MARGIN)
    x, y = session.data.inputs("train"), session.data.labels("train")
    return Job(("playground-snapshot", bounds), lambda: private_copy(session.model),
               lambda model, progress: snapshot(model, plane, bounds, x, y), "regions")
