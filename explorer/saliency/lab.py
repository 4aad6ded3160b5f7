"""What the saliency panel asks of a session: maps (memoised, one forward shared), the ranking and DiffROAR jobs."""
from __future__ import annotations

import inspect
import math

import numpy as np
import torch

from .. import estimates
from ..jobs import Estimate, Job, key, private_copy
from .methods.explainer import Explainer, KeptForwards, make_method


def method_key(name: str, layers, params: dict) -> tuple:
    """What names a configured method: its name, layers and knobs."""
    return key(name, layers, params)


# Ranges of the knobs that several methods share (a method's own `ranges` class attribute wins).
RANGES = {"noise_level": (0.0, 1.0, 0.05), "samples": (1, 64, 1), "steps": (1, 128, 1), "sigma": (0.1, 20.0, 0.1),
          "baseline": (0.0, 1.0, 0.05), "window": (1, 64, 1), "stride": (1, 64, 1), "epsilon": (0.0, 1.0, 0.01)}
HIDDEN = ("batch_size",)  # knobs that change the speed, not the map: not offered


def knobs(cls) -> dict[str, dict]:
    """A method class's knobs, read from its constructor and class attributes: {parameter: {"default", and
    "choices" (a string option: `choices` on the class) or "range" (min, max, step)}}; the panel builds its form
    from this, so a method with a new knob needs no panel edit."""
    sig = inspect.signature(cls.__init__).parameters
    out = {}
    for p, v in sig.items():
        if p in ("self", "layers", *HIDDEN) or v.default is v.empty or v.kind is v.VAR_KEYWORD:
            continue
        default, spec = v.default, {"default": v.default}
        if p in getattr(cls, "choices", {}):
            spec["choices"] = tuple(cls.choices[p])
        elif isinstance(default, bool):
            spec["choices"] = (False, True)
        elif isinstance(default, (int, float)):
            lo, hi, step = getattr(cls, "ranges", {}).get(p) or RANGES.get(p) or (
                (0, max(8, 4 * default), 1) if isinstance(default, int) else (0.0, max(1.0, 4 * default), 0.01))
            spec["range"] = (lo, hi, step)
        else:
            continue  # a knob the panel cannot offer (e.g. an image or a callable): the default stays
        if p in getattr(cls, "labels", {}):  # a name the panel shows instead of the parameter's
            spec["label"] = cls.labels[p]
        out[p] = spec
    return out


def map_key(name: str, layers, params: dict, split: str, index: int, target) -> tuple:
    """The memo key of one image's map for one configured method and target: a class, or (kind, number) for a
    model that is not a classifier (kinds.py; ("given", 0): the session's Target object)."""
    target = (str(target[0]), int(target[1])) if isinstance(target, tuple) else int(target)
    return ("saliency", *method_key(name, layers, params), split, int(index), target)


def notes_key(request: tuple) -> tuple:
    """The memo key of the method's notes on one request's map."""
    return ("saliency-notes", *map_key(*request)[1:])


class Explainers:
    """One Explainer per configured method, on a private copy of a session's model (made again on the kernel's
    thread when the weights change), all sharing the kept forwards: a method switch on one layer and image runs
    no forward. The session's memo holds the maps; a panel view owns one Explainers and runs one job at a time."""

    def __init__(self, session, size: int = 16, kept: int = 4):
        self.session, self.size = session, size
        self.kept = KeptForwards(size=kept)
        self.computes = 0  # maps computed (not from the memo): for tests and curiosity
        self.model = self.token = None
        self._explainers: dict = {}

    def ready(self) -> Explainers:
        """Copy the session's model if its weights changed since the last copy (on the kernel's thread)."""
        token = self.session.state()
        if token != self.token:
            self.clear()
            self.model, self.token = private_copy(self.session.model), token
        return self

    def get(self, name: str, layers=None, **params) -> Explainer:
        """The Explainer of one configuration (made once, the oldest dropped past size)."""
        key = method_key(name, layers, params)
        if key not in self._explainers:
            method = make_method(name, layers, **params)
            method.warns = False  # its notes are kept beside the map (notes()), not printed from the job's thread
            self._explainers[key] = Explainer(self.model, method, self.kept)
            while len(self._explainers) > self.size:  # the graphs' memory is bounded by the kept forwards
                self._explainers.pop(next(iter(self._explainers)))
        return self._explainers[key]

    def _compute(self, request: tuple) -> tuple[np.ndarray, tuple]:
        """(H, W) map in [0, 1] of one request (name, layers, params, split, index, target) on the copy, and the
        method's notes on it (a map that is rounding, DeepLIFT's completeness gap)."""
        name, layers, params, split, index, target = request
        self.computes += 1
        x = self.session.data.inputs(split)[index:index + 1]
        explainer = self.get(name, layers, **params)
        cam = explainer(x, self._target(target, split, x) if isinstance(target, tuple) else [target])[0]
        cam = cam.cpu().numpy()
        return cam, tuple(explainer.method.notes_)

    def _target(self, target: tuple, split: str, x):
        """The Target of a (kind, number) request for image x: the session's own object, or a kind made from the
        image's output (similarity: from image `number`'s)."""
        from ..capture import eval_mode
        from ..device import model_device
        from .kinds import make_target
        from .methods.util import check_input, run_model

        kind, k = target
        if kind == "given":
            return self.session.target
        images = self.session.data.inputs(split)
        if kind == "similarity" and not 0 <= k < len(images):
            raise ValueError(f"image {k} out of range: the {split} split has {len(images)} images")
        with eval_mode(self.model), torch.no_grad():
            def output(t):
                return run_model(self.model, check_input(t).to(model_device(self.model)), any_output=True)
            return make_target(kind, k, output(x), output(images[k:k + 1]) if kind == "similarity" else None)

    def cam(self, name: str, layers, params: dict, split: str, index: int, target: int) -> np.ndarray:
        """One map here and now, memoised by everything that determines it (notebooks); its notes: notes()."""
        request = (name, layers, params, split, index, target)
        if (m := self.stored(request)) is not None:
            return m
        return self.keep(dict(zip((map_key(*request), notes_key(request)), self.ready()._compute(request))),
                         None, [request])[0]

    def stored(self, request: tuple):
        """The memoised map of a request, or None."""
        return self.session.lookup(self.session.full_key(map_key(*request)))[1]

    def notes(self, request: tuple) -> tuple:
        """The method's notes on a request's memoised map (empty when it has none or is not stored)."""
        return self.session.lookup(self.session.full_key(notes_key(request)))[1] or ()

    def maps_job(self, requests) -> Job:
        """The maps of several requests as one job: prepare() copies the model if it changed; compute() makes the
        maps not stored yet on the copy (progress before each: a superseded grid stops at its next map); keep()
        files them in the session's memo. Not stored as a whole (the maps are, one by one)."""
        requests = [tuple(r) for r in requests]

        def prepare():
            self.ready()
            return [r for r in requests if self.stored(r) is None]

        def compute(todo, progress):
            out = {}
            for i, r in enumerate(todo):
                progress(i, len(todo), {"map": r[0]})
                out[map_key(*r)], out[notes_key(r)] = self._compute(r)
            progress(len(todo), len(todo), {})
            return out
        return Job(key("saliency-maps", [map_key(*r) for r in requests]), prepare, compute, "saliency maps",
                   store=False)

    def keep(self, maps: dict, ticket, requests) -> list:
        """File a maps job's maps (and notes) under the weights they were computed for (ticket None: now); then every
        request's map, in order."""
        token = self.session.state() if ticket is None else ticket.token
        for k, m in maps.items():  # maps and their notes
            self.session.store((token, id(self.session.data), *k), m)
        return [maps[k] if (k := map_key(*r)) in maps else self.stored(r) for r in requests]

    def clear(self) -> None:
        """Free every kept graph."""
        self._explainers.clear()
        self.kept.clear()


def map_passes(method, hw: tuple | None = None) -> int:
    """Passes one map of a method takes: its samples or steps, one per occlusion window of an hw image, else 1
    (a gradient method; Score-CAM's and Ablation-CAM's one per channel are not counted)."""
    import math

    if hasattr(method, "sizes") and hw is not None:
        k, s = method.sizes(*hw)
        return max(1, (math.ceil((hw[0] - k) / s) + 1) * (math.ceil((hw[1] - k) / s) + 1))
    for knob in ("samples", "steps", "n_samples"):
        if isinstance(getattr(method, knob, None), int):
            return max(1, getattr(method, knob))
    return 1


def maps_estimate(session, methods, n: int, layers, per_map: float = 1.0, forwards_per_image: int = 0,
                  what: str = "", fixed: float = 0.0) -> Estimate:
    """Maps of n test images by each configured method per_map times (a timed forward and backward per pass, in
    batches of 64), forwards_per_image forwards per method, and `fixed` seconds of set-up."""
    from . import METHODS

    model = session.model
    x = estimates.some_inputs(session.data)
    chosen = [make_method(m, layers if getattr(METHODS.get(m), "needs_layer", False) else None) for m in methods]
    b = max(1, min(64, n))
    g = estimates.pass_seconds(model, x, b, "gradient", session) / b
    f = estimates.pass_seconds(model, x, b, "forward", session) / b
    passes = sum(map_passes(m, tuple(session.data.shape[1:])) for m in chosen)
    sec = n * (g * passes * per_map + f * forwards_per_image * len(chosen)) + fixed
    return Estimate(sec, 64 * 3 * estimates.activation_bytes(model, x) * max(1, passes), what)


def _twin(session):
    """A session on a copy of the model: the thread's own, so the user's model stays free for the live map."""
    from ..session import Session

    return Session(private_copy(session.model), session.data, session.history, target=session.target)


def eval_targets(session, model, target, x, split: str):
    """What the evaluation jobs score on images x: None for a classifier (the predicted classes); for a model that
    is not one, the session's own Target object for ("given", 0), else one Target per image of a (kind, number)
    request (kinds.batch_targets; similarity: to image `number` of the split)."""
    if session.target is None or target is None:
        return None
    kind, k = target
    if kind == "given":
        return session.target
    from .kinds import batch_targets

    images = session.data.inputs(split)
    if kind == "similarity" and not 0 <= k < len(images):
        raise ValueError(f"image {k} out of range: the {split} split has {len(images)} images")
    return batch_targets(model, kind, k, x, images[k:k + 1] if kind == "similarity" else None)


def _request(target):
    """A (kind, number) request as a key part (None for a classifier's predicted classes)."""
    return None if target is None else (str(target[0]), int(target[1]))


def rank_job(session, methods, n: int = 32, split: str = "test", layers=None, seed: int = 0, target=None) -> Job:
    """rank_methods() on a copy of the model (on data.sample(split, n, seed): stratified by class); target: the
    state's (kind, number) for a model that is not a classifier (eval_targets)."""
    from .evaluation.rank import rank_methods

    methods, target = tuple(methods), _request(target)
    layers = layers if isinstance(layers, (str, type(None))) else tuple(layers)

    def compute(twin, progress):
        x = session.data.sample(split, n, seed)[0]
        return rank_methods(twin, list(methods), n=n, split=split, layers=layers, progress=progress, seed=seed,
                            targets=eval_targets(twin, twin.model, target, x, split))

    def estimate():  # per method: its maps and a second class's, the deletion and insertion curves (10 steps + 1
        # each), an explainer and the split's predictions
        return maps_estimate(session, methods, estimates.sample_size(session.data, split, n), layers, 2, 2 * 11,
                             f"{len(methods)} methods on {n} images", 0.06 * len(methods))
    return Job(("saliency-rank", methods, n, split, layers, seed, target), lambda: _twin(session), compute,
               "ranking methods", estimate)


ROAR_REFUSED = ("DiffROAR retrains the architecture as a classifier on the data's class labels: it has no meaning "
                "for a model that is not a classifier (a segmentation, similarity, binary or detection target)")


def diff_roar_job(session, name: str, layers=None, params: dict | None = None, k: float = 0.2,
                  epochs: int = 5) -> Job:
    """DiffROAR of one configured method: the architecture retrained on its top-k and bottom-k pixels."""
    from .evaluation.roar import diff_roar

    if session.target is not None:
        raise ValueError(ROAR_REFUSED)
    params = dict(params or {})
    method = make_method(name, layers, **params)  # a bad name or knob: a clear error before any work
    return Job(("saliency-diffroar", *method_key(name, layers, params), k, epochs),
               lambda: private_copy(session.model),
               lambda twin, progress: diff_roar(twin, session.data, method, k=k, epochs=epochs, progress=progress),
               "DiffROAR", lambda: diff_roar_estimate(session, method, epochs))


def diff_roar_estimate(session, method, epochs: int) -> Estimate:
    """DiffROAR: the method's maps of both splits (a timed forward and backward per pass), then two trainings of
    the architecture (explorer.estimates.training)."""
    data, model = session.data, session.model
    n = sum(len(data.labels(s)) for s in ("train", "test"))
    x = estimates.some_inputs(data, "train")
    per = estimates.pass_seconds(model, x, min(256, n), "gradient", session) / min(256, n)
    maps = Estimate(per * map_passes(method, tuple(data.shape[1:])) * n, n * math.prod(data.shape) * 8,
                    f"maps of {n:,} images")
    two = estimates.training(model, data, epochs, session=session)
    return maps + Estimate(2 * two.seconds, two.bytes, f"2 x {two.what}")


def cam_layers(session) -> list[str]:
    """Every module with a spatial map (larger than 1 x 1) on the path to the logits, in the model's order: block
    outputs, not only convolutions (one shape-probing forward on a test image, memoised)."""
    from .methods.layers import spatial_layers

    x = session.data.inputs("test")[:1]
    return session.memo(("saliency-layers",), lambda: spatial_layers(session.model, x))


def default_layer(session, layers: list[str]) -> str | None:
    """The layer a CAM explains unless the user chooses: the last spatial map on the path to the logits."""
    from .methods.layers import default_cam_layer

    if not layers:
        return None
    x = session.data.inputs("test")[:1]
    return session.memo(("saliency-default-layer",), lambda: default_cam_layer(session.model, x))


def configured(names, layers) -> dict:
    """{name: method} for names, CAMs on the given layer(s), input methods on the input."""
    from .methods.registry import METHODS

    return {n: make_method(n, layers if METHODS[n].needs_layer else None) for n in names}


def sanity_job(session, methods, n: int = 8, split: str = "test", layers=None, mode: str = "cascading",
               seed: int = 0, target=None) -> Job:
    """Adebayo et al.'s model randomisation of the compared methods on n images (data.sample(split, n, seed):
    stratified by class), on a copy of the model; target as rank_job's."""
    from .evaluation.sanity import model_randomization

    methods, target = tuple(methods), _request(target)
    layers = layers if isinstance(layers, (str, type(None))) else tuple(layers)
    x = session.data.sample(split, n, seed)[0]

    def compute(twin, progress):
        t = eval_targets(session, twin, target, x, split)
        return model_randomization(twin, x, configured(methods, layers), "predicted" if t is None else t, mode=mode,
                                   seed=seed, progress=progress)
    return Job(("saliency-sanity", methods, n, split, layers, mode, seed, target), lambda: private_copy(session.model),
               compute, "sanity checks", lambda: sanity_estimate(session, methods, len(x), layers))


def sanity_estimate(session, methods, n: int, layers=None) -> Estimate:
    """model_randomization: every method's maps on the model and on one copy per re-initialised layer."""
    count = 1 + sum(1 for m in session.model.modules() if hasattr(m, "reset_parameters") and not list(m.children()))
    return maps_estimate(session, methods, n, layers, count, 0,
                         f"{len(methods)} methods x {count} models on {n} images",
                         0.02 * count)  # a copy of the model re-initialised per layer


def trust_job(session, methods, n: int = 8, split: str = "test", layers=None, seed: int = 0, target=None) -> Job:
    """Faithfulness correlation, max-sensitivity, sparseness, complexity and random-logit (a classifier's only) per
    method, on n images (data.sample(split, n, seed): stratified by class); target as rank_job's."""
    from .evaluation.trust import trust_metrics

    methods, target = tuple(methods), _request(target)
    layers = layers if isinstance(layers, (str, type(None))) else tuple(layers)
    x = session.data.sample(split, n, seed)[0]

    def compute(twin, progress):
        t = eval_targets(session, twin, target, x, split)
        return trust_metrics(twin, x, configured(methods, layers), "predicted" if t is None else t, seed=seed,
                             progress=progress)
    return Job(("saliency-trust", methods, n, split, layers, seed, target), lambda: private_copy(session.model),
               compute, "trust metrics",
               lambda: maps_estimate(session, methods, len(x), layers, 20 + 2, 100,  # trust_metrics' defaults:
                                     f"{len(methods)} methods on {len(x)} images"))  # 100 perturbed forwards, 22 maps
