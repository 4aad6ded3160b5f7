"""The geometry lab's slow results as jobs (explorer.jobs): prepare() copies the model on the caller's thread,
compute() runs on the copy. session_* run them synchronously, memoised by Session.run."""
from __future__ import annotations

import numpy as np
from torch import nn

from .. import estimates
from ..jobs import Estimate, Job, private_copy
from ..jobs import key as memo_key
from ..weights import weights_token
from .cka import cka_matrix, layer_grams
from .collapse import collapse_over_training
from .exact import exact_regions
from .featvis import STEPS, maximise, multifaceted
from .linear import local_map
from .match import match_layers
from .minibatch import minibatch_cka
from .plane import plane_through
from .regions import grid_samples, partition
from .span import SEARCH, ZOOMS, widest_regions

COLLAPSE_MAX = 5000  # inputs the class means and covariances are taken on (a stratified sample of a larger split)


def _copy(session):
    return lambda: private_copy(session.model)  # the thread runs its own copy; the user's model stays free


def _layers(layers):
    return None if layers is None else ((layers,) if isinstance(layers, str) else tuple(layers))


def local_map_job(session, indices, split: str = "test", linearise: bool = False) -> Job:
    """local_map at inputs `indices` of a split."""
    idx = [int(i) for i in np.atleast_1d(indices)]
    x = session.data.inputs(split)[idx]
    return Job(("geometry-local-map", split, tuple(idx), linearise), _copy(session),
               lambda model, progress: local_map(model, x, linearise=linearise), "linear interpreter")


def plane_of(session, indices, split: str = "test"):
    """The plane through three inputs of a split, by index."""
    i, j, k = (int(t) for t in indices)
    x = session.data.inputs(split)
    return plane_through(x[i], x[j], x[k])


def regions_job(session, indices, split: str = "test", resolution: int = 200, bounds=None, layers=None) -> Job:
    """grid_regions on the plane through three inputs of a split (the model part and the partition, on a copy).
    bounds "auto": the widest span whose grid shows the regions (regions.widest_regions), up to one grid a span."""
    plane = plane_of(session, indices, split)
    auto = isinstance(bounds, str)
    if auto and bounds != "auto":
        raise ValueError(f"bounds must be (u0, u1, v0, v1), None or 'auto'; got {bounds!r}")
    key = ("geometry-regions", split, tuple(int(i) for i in indices), resolution,
           bounds if auto or bounds is None else tuple(bounds), _layers(layers))
    if auto:
        return Job(key, _copy(session), lambda model, progress: widest_regions(
            model, plane, resolution, _layers(layers), progress=progress), "linear regions", lambda: regions_estimate(
            session, plane, resolution, None, _layers(layers), 1 + len(ZOOMS) * min(SEARCH / resolution, 1) ** 2))
    return Job(key, _copy(session), lambda model, progress: partition(
        grid_samples(model, plane, resolution, bounds, _layers(layers), progress=progress)), "linear regions",
        lambda: regions_estimate(session, plane, resolution, bounds, _layers(layers)))


def regions_estimate(session, plane, resolution: int, bounds=None, layers=None, grids: float = 1) -> Estimate:
    """grid_samples and partition of resolution² cells (`grids` times that work in all), timed on a coarser grid of the
    same plane (cells of one of its batches at most) and scaled by the cells."""
    import math

    model, cells = session.model, resolution * resolution

    def make(b):
        r = max(2, math.isqrt(b))
        return lambda: partition(grid_samples(model, plane, r, bounds, layers))
    batch = min(cells, 2048)
    sec = estimates.over(cells, batch, estimates.calibrated(session, ("regions", layers), make, batch,
                                                            session.device))
    x = estimates.some_inputs(session.data)
    per = estimates.activation_bytes(model, x)
    return Estimate(grids * sec, min(cells, 2048) * per + cells * (per // 32 + 4 * session.data.n_classes + 16),
                    f"{cells:,} grid points" + (", and coarser grids to find the span" if grids > 1 else ""))


def exact_regions_job(session, indices, split: str = "test", bounds=None) -> Job:
    """exact_regions of an MLP on the plane through three inputs of a split."""
    plane = plane_of(session, indices, split)
    key = ("geometry-exact-regions", split, tuple(int(i) for i in indices), None if bounds is None else tuple(bounds))
    return Job(key, _copy(session), lambda model, progress: exact_regions(model, plane, bounds), "exact regions")


def cka_job(session, layers=None, split: str = "test", max_points: int = 1000, debiased: bool = False,
            minibatch: int | None = None, other: nn.Module | None = None, other_layers=None) -> Job:
    """CKA between every pair of layers of the session's model, or against `other` (another seed, a checkpoint),
    on data.sample(split, max_points): stratified by class."""
    x = session.data.sample(split, max_points)[0]
    key = ("geometry-cka", _layers(layers), split, max_points, debiased, minibatch,
           None if other is None else weights_token(other), _layers(other_layers))

    def prepare():
        return private_copy(session.model), None if other is None else private_copy(other)

    def compute(models, progress):
        a, b = models
        if minibatch is not None:  # one batch in memory at a time, whatever max_points
            return minibatch_cka(a, x, _layers(layers), b, None if b is None else _layers(other_layers), None,
                                 minibatch, debiased, progress)
        ga = layer_grams(a, x, _layers(layers), progress=progress)
        gb = None if b is None else layer_grams(b, x, _layers(other_layers), progress=progress)
        return cka_matrix(ga, gb, debiased)

    return Job(key, prepare, compute, "CKA", lambda: cka_estimate(session, split, max_points, 1 if other is None
                                                                  else 2, minibatch))


def cka_estimate(session, split: str, max_points: int, models: int = 1, minibatch: int | None = None) -> Estimate:
    """The activations of every layer on data.sample's count of inputs (a timed forward per model), then a Gram
    matrix per layer (CPU seconds per multiply-add measured: 3e-10) and CKA between them. minibatch=b: Grams of
    b x b, and the memory of one batch (its activations, recorded once more, and its Grams), whatever the count."""
    model, x = session.model, estimates.some_inputs(session.data, split)
    n = estimates.sample_size(session.data, split, max_points)
    units = estimates.activation_bytes(model, x) // 4
    b, layers = min(minibatch or n, n), len(list(model.modules()))
    sec = models * (estimates.forwards(model, x, n, session=session) + estimates.cpu_seconds(3e-10 * n * b * units))
    if minibatch is not None:
        return Estimate(sec + 0.02, models * (b * units * 4 * 2 + 8 * b * b * layers),
                        f"minibatch Gram matrices of {n:,} inputs, {b} at a time")
    return Estimate(sec + 0.02, 8 * n * n * 2 * layers + n * units * 4 * models, f"Gram matrices of {n:,} inputs")


def match_job(session, layer: str, other: nn.Module, other_layer: str | None = None, split: str = "test",
              max_points: int = 1000) -> Job:
    """Neuron matching between `layer` of the session's model and `other_layer` (default the same) of `other`, on
    data.sample(split, max_points): stratified by class."""
    x = session.data.sample(split, max_points)[0]
    key = ("geometry-match", layer, weights_token(other), other_layer, split, max_points)
    return Job(key, lambda: (private_copy(session.model), private_copy(other)),
               lambda models, progress: match_layers(models[0], layer, models[1], other_layer or layer, x),
               "neuron matching", lambda: Estimate(
                   2 * estimates.forwards(session.model, x, len(x), session=session),
                   2 * min(len(x), 512) * estimates.activation_bytes(session.model, x), f"activations of {len(x):,} "
                   "inputs, twice"))


def collapse_job(session, split: str = "train", layers=None, max_points: int | None = COLLAPSE_MAX) -> Job:
    """NC1-NC4 over the session's training checkpoints, on data.sample(split, max_points) (stratified by class)."""
    checkpoints = list(session.history.checkpoints)
    if not checkpoints:
        raise ValueError("the session has no checkpoints: train it first (session.train(...) keeps them)")
    x, y, _ = session.data.sample(split, max_points)
    key = ("geometry-collapse", split, _layers(layers), id(session.history), len(checkpoints), max_points)
    return Job(key, _copy(session), lambda model, progress: collapse_over_training(
        model, checkpoints, x, y, _layers(layers), progress), "neural collapse",
        lambda: Estimate(len(checkpoints) * estimates.forwards(session.model, x, len(x), session=session),
                         min(len(x), 512) * estimates.activation_bytes(session.model, x) + 3 * estimates.param_bytes(
                             session.model), f"features at {len(checkpoints)} checkpoints"))


def _to_inputs(data):
    """Images in [0, 1] -> model inputs, as data.inputs does: the set's transform when it has one, else mean/std."""
    return data.transform if data.transform is not None else data.normalize


def maximise_job(session, layer: str, unit: int, **kwargs) -> Job:
    """Activation maximisation of a unit (kwargs: maximise's steps, lr, seed, param, jitter, tv, pre)."""
    key = ("geometry-maximise", layer, unit, memo_key(kwargs))
    return Job(key, _copy(session), lambda model, progress: maximise(
        model, layer, unit, session.data.shape, normalize=_to_inputs(session.data), progress=progress, **kwargs),
        "feature visualisation", lambda: featvis_estimate(session, layer, unit, **kwargs))


def featvis_estimate(session, layer: str, unit: int, facets: int = 0, split: str = "train", **kwargs) -> Estimate:
    """Activation maximisation: maximise() timed over a few of its steps and scaled to `steps` (per facet), after
    a forward over a split's images to find the top ones (facets > 0)."""
    model, data = session.model, session.data
    steps = kwargs.pop("steps", STEPS)

    def make(b):
        return lambda: maximise(model, layer, unit, data.shape, steps=b, normalize=_to_inputs(data), **kwargs)
    key = ("maximise", layer, memo_key(kwargs))
    sec = estimates.calibrated(session, key, make, steps, session.device) * max(1, facets)
    x = estimates.some_inputs(data, split)
    if facets:
        sec += estimates.forwards(model, x, len(data.labels(split)), session=session)
    return Estimate(sec, 4 * estimates.param_bytes(model) + 256 * estimates.activation_bytes(model, x),
                    f"{max(1, facets) * steps} optimiser steps")


def multifaceted_job(session, layer: str, unit: int, n_facets: int = 3, top: int = 30, split: str = "train",
                     **kwargs) -> Job:
    """Multifaceted visualisation of a unit from a split's top images."""
    images = session.data.images(split)
    key = ("geometry-facets", layer, unit, n_facets, top, split, memo_key(kwargs))
    return Job(key, _copy(session), lambda model, progress: multifaceted(
        model, images, layer, unit, n_facets, top, normalize=_to_inputs(session.data), progress=progress, **kwargs),
        "multifaceted visualisation",
        lambda: featvis_estimate(session, layer, unit, n_facets, split, **kwargs))


def session_regions(session, indices, split: str = "test", resolution: int = 200, bounds=None, layers=None,
                    progress=None):
    """regions_job, synchronously (memoised)."""
    return session.run(regions_job(session, indices, split, resolution, bounds, layers), progress)


def session_cka(session, layers=None, split: str = "test", max_points: int = 1000, debiased: bool = False,
                minibatch: int | None = None, other: nn.Module | None = None, other_layers=None, progress=None):
    """cka_job, synchronously (memoised)."""
    return session.run(cka_job(session, layers, split, max_points, debiased, minibatch, other, other_layers),
                       progress)


def session_collapse(session, split: str = "train", layers=None, progress=None) -> list[dict]:
    """collapse_job, synchronously (memoised)."""
    return session.run(collapse_job(session, split, layers), progress)
