"""The lab's session-level calls: codes, metrics and maps of a session's model, memoised; metrics over training."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import estimates
from ..jobs import Estimate, Job, private_copy
from ..layers import relu_layers
from .complexity import local_complexity
from .embed import MAX_POINTS, embed
from .embed import estimate as embedding
from .embed_large import embed_large
from .extract import MAX_BYTES, activation_codes
from .knn import knn_accuracy, knn_seconds
from .metrics import categorization, determinism, redundancy

SPLITS = ("train", "test")
METRICS_MAX = 10_000  # inputs per split the tables score (a stratified sample of a larger split, seed 0)
MAX_DEFAULT_BITS = 2 ** 16  # a longer whole-network code (a ResNet-18's: 188 k bits at 64 x 64, 2.3 M at 224) makes
# the map, the k-NN and the tables take minutes and GBs


def default_layers(session, max_bits: int = MAX_DEFAULT_BITS):
    """The lab's first choice: None (every ReLU-like layer, the paper's whole-network code) when that code has at
    most max_bits bits, else the last ReLU-like layer (the code the classifier reads); one probing forward."""
    names = tuple(relu_layers(session.model, None))
    x = session.data.inputs("test")[:1]
    n = session.memo(("codes-bits", names), lambda: activation_codes(session.model, x, names).n_bits)
    return None if n <= max_bits else names[-1]


def session_codes(session, layers=None, split: str = "test", with_activations: bool = False):
    """Codes of a session's split (memoised on layers, split and the weights)."""
    layers = tuple(relu_layers(session.model, layers))
    x = session.data.inputs(split)
    return session.memo(("codes", layers, split, with_activations),
                        lambda: activation_codes(session.model, x, layers, with_activations=with_activations))


def encoding(session, layers: tuple, split: str = "test", with_activations: bool = False) -> tuple[float, int, int]:
    """(seconds per input, bits per input, inputs per batch) of activation_codes on a split's inputs: the batch it
    takes (256, or fewer where MAX_BYTES of pre-activations and outputs would be exceeded, or the split is smaller)
    timed once per session."""
    model, x = session.model, estimates.some_inputs(session.data, split)
    bits = session.memo(("codes-bits", layers), lambda: activation_codes(model, x[:1], layers).n_bits)
    batch = max(1, min(256, MAX_BYTES // (8 * bits)))  # float32 pre-activations and outputs: 8 bytes per bit
    batch = min(batch, max(1, len(session.data.labels(split))))  # a split of 16 runs one batch of 16, not of 256

    def make(b):
        xb = estimates.repeat(x, b)
        return lambda: activation_codes(model, xb, layers, batch_size=b, with_activations=with_activations)
    seconds = estimates.calibrated(session, ("codes", layers, tuple(x.shape[1:]), with_activations), make, batch,
                                   session.device)
    return seconds / batch, bits, batch


def codes_estimate(session, layers: tuple, splits=("test",), with_activations: bool = False) -> Estimate:
    """Encoding the splits whose codes are not stored yet: their inputs at the timed rate; a batch's captured floats
    and the packed bits (and the activations) kept."""
    todo = [s for s in splits if not session.known(("codes", layers, s, with_activations))]
    if not todo:
        return Estimate(0.0, 0, "codes stored")
    n = sum(len(session.data.labels(s)) for s in todo)
    per_input, bits, batch = encoding(session, layers, todo[0], with_activations)
    kept = n * -(-bits // 8) + (n * bits * 4 if with_activations else 0)  # packed rows (and float32 activations)
    seconds = sum(estimates.over(len(session.data.labels(s)), batch, per_input * batch) for s in todo)
    return Estimate(seconds, batch * 8 * bits + kept, f"{n:,} inputs encoded")


def session_determinism(session, layers=None) -> list[dict]:
    """Redundancy per layer and for the whole network, train and test."""
    layers = tuple(relu_layers(session.model, layers))
    return session.memo(("codes-determinism", layers), lambda: determinism(
        {s: session_codes(session, layers, s) for s in SPLITS}))


def categorization_key(session, layers=None, k: int = 9, n_clusters: int = 10, seed: int = 9,
                       baselines: bool = True, max_points: int | None = METRICS_MAX) -> tuple:
    """The memo key of session_categorization."""
    return ("codes-categorization", tuple(relu_layers(session.model, layers)), k, n_clusters, seed, baselines,
            max_points)


def sampled(codes, idx: np.ndarray):
    """Codes (or an array) of the rows idx."""
    return dataclasses.replace(codes, packed=codes.packed[idx]) if hasattr(codes, "packed") else codes[idx]


def categorization_features(session, layers=None, baselines: bool = True, max_points: int | None = METRICS_MAX
                            ) -> tuple[dict, np.ndarray, np.ndarray]:
    """What session_categorization scores: {name: (train, test)} for codes (and pixels, activations), and labels,
    of data.sample(split, max_points) per split (stratified by class, seed 0)."""
    layers = tuple(relu_layers(session.model, layers))
    data = session.data
    idx = {s: data.sample(s, max_points)[2] for s in SPLITS}
    (ctr, atr), (cte, ate) = (session_codes(session, layers, s, with_activations=True) for s in SPLITS)
    feats = {"codes": (sampled(ctr, idx["train"]), sampled(cte, idx["test"]))}
    if baselines:
        feats["pixels"] = tuple(data.images(s)[idx[s]].flatten(1).numpy() for s in SPLITS)
        feats["activations"] = (atr[idx["train"]], ate[idx["test"]])
    return feats, data.labels("train").numpy()[idx["train"]], data.labels("test").numpy()[idx["test"]]


def categorization_job(session, layers=None, k: int = 9, n_clusters: int = 10, seed: int = 9,
                       baselines: bool = True, max_points: int | None = METRICS_MAX) -> Job:
    """k-NN, logistic regression and K-Means on codes (pixels and activations as baselines): the codes here, the
    fits anywhere."""
    key = categorization_key(session, layers, k, n_clusters, seed, baselines, max_points)
    device = session.device
    return Job(key, lambda: categorization_features(session, key[1], baselines, max_points),
               lambda prepared, progress: categorization(*prepared, k, n_clusters, seed, device=device,
                                                         progress=progress),
               "K-Means and logistic regression",
               lambda: categorization_estimate(session, key[1], baselines, max_points))


def categorization_estimate(session, layers: tuple, baselines: bool = True, max_points: int | None = METRICS_MAX
                            ) -> Estimate:
    """The codes (and activations) of both splits, then k-NN, logistic regression and two K-Means per feature set
    on the sampled inputs: CPU seconds per input and feature measured on the default CNN (7e-7 s), and 0.5 s of
    set-up."""
    data = session.data
    enc = codes_estimate(session, layers, SPLITS, with_activations=True)
    n = sum(estimates.sample_size(data, s, max_points) for s in SPLITS)
    bits = encoding(session, layers)[1]
    width = bits * (2 if baselines else 1) + (math.prod(data.shape) if baselines else 0)
    return enc + Estimate(estimates.cpu_seconds(7e-7 * n * width + 0.5), n * width * 12,
                          f"fits on {n:,} x {width:,} features")


def session_categorization(session, layers=None, k: int = 9, n_clusters: int = 10, seed: int = 9,
                           baselines: bool = True, max_points: int | None = METRICS_MAX) -> list[dict]:
    """k-NN, logistic regression and K-Means on codes, and on raw pixels and continuous activations as baselines
    (of max_points inputs per split, stratified by class)."""
    return session.run(categorization_job(session, layers, k, n_clusters, seed, baselines, max_points))


def map_size(n: int, max_points: int | None = None) -> int:
    """How many of n inputs map_indices takes (no sampling: what an estimate counts)."""
    return n if max_points is None or n <= max_points else max_points


def map_indices(n: int, max_points: int | None = None, seed: int = 0) -> np.ndarray:
    """All of range(n), or a seeded sorted sample of max_points of them."""
    if map_size(n, max_points) == n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def map_key(session, layers=None, split: str = "test", method: str = "PCA", seed: int = 0,
            max_points: int | None = None) -> tuple:
    """The memo key of session_map (and of the panel's embed_job: one stored map serves both)."""
    return ("codes-embed", tuple(relu_layers(session.model, layers)), split, seed, max_points, method)


def map_bits(session, layers=None, split: str = "test", seed: int = 0, max_points: int | None = None) -> np.ndarray:
    """The 0/1 codes a map embeds: those of map_indices(N, max_points, seed) of the split."""
    codes = session_codes(session, layers, split)
    return codes.bits()[map_indices(len(codes), max_points, seed)]


def embed_any(bits, method: str, seed: int, progress) -> np.ndarray:
    """embed() up to MAX_POINTS codes; above, embed_large (PCA of all, UMAP and t-SNE fitted on a sample)."""
    return embed(bits, method, seed) if len(bits) <= MAX_POINTS else embed_large(bits, method, seed, progress=progress)


def map_job(session, layers=None, split: str = "test", method: str = "PCA", seed: int = 0,
            max_points: int | None = None) -> Job:
    """(n, 2) map of a split's codes: the codes here (the model runs), the embedding of their bits anywhere."""
    key = map_key(session, layers, split, method, seed, max_points)

    def estimate():  # the codes (unless stored), then the embedding of map_indices' count of them
        n = map_size(len(session.data.labels(split)), max_points)
        return codes_estimate(session, key[1], (split,)) + embedding(n, encoding(session, key[1], split)[1], method)
    return Job(key, lambda: map_bits(session, key[1], split, seed, max_points),
               lambda bits, progress: embed_any(bits, method, seed, progress), f"{method} map", estimate)


def session_map(session, layers=None, split: str = "test", method: str = "PCA", seed: int = 0,
                max_points: int | None = None) -> np.ndarray:
    """(n, 2) map of a split's codes, of map_indices(N, max_points, seed) (memoised on all of these)."""
    return session.run(map_job(session, layers, split, method, seed, max_points))


def local_complexity_job(session, layers=None, split: str = "test", radius: float = 0.1, n_vertices: int = 20,
                         seed: int = 0, max_points: int | None = 1000) -> Job:
    """local_complexity() of a split (a seeded sample of max_points inputs), on a copy of the model."""
    layers = tuple(relu_layers(session.model, layers))
    x = session.data.inputs(split)
    idx = map_indices(len(x), max_points, seed)
    return Job(("codes-lc", layers, split, radius, n_vertices, seed, max_points),
               lambda: private_copy(session.model),  # the thread probes its own copy; the user's model stays free
               lambda model, progress: local_complexity(model, x[idx], layers, radius, n_vertices, seed),
               "local complexity", lambda: complexity_estimate(session, layers, len(idx), n_vertices, split))


def complexity_estimate(session, layers: tuple, n: int, n_vertices: int = 20, split: str = "test") -> Estimate:
    """local_complexity on n inputs: timed on the inputs of one of its batches (4096 vertices), scaled to n."""
    model, x = session.model, estimates.some_inputs(session.data, split)
    per_batch = max(1, 4096 // n_vertices)

    def make(b):
        xb = estimates.repeat(x, b)
        return lambda: local_complexity(model, xb, layers, 0.1, n_vertices)
    seconds = estimates.calibrated(session, ("codes-lc", layers, tuple(x.shape[1:]), n_vertices), make,
                                   min(n, per_batch), session.device)
    points = min(4096, n * n_vertices)
    return Estimate(estimates.over(n, min(n, per_batch), seconds),
                    2 * points * estimates.activation_bytes(model, x), f"{n * n_vertices:,} encoded points")


def session_local_complexity(session, layers=None, split: str = "test", radius: float = 0.1, n_vertices: int = 20,
                             seed: int = 0, max_points: int | None = 1000) -> dict[str, np.ndarray]:
    """local_complexity() of a split (a seeded sample of max_points inputs), memoised."""
    return session.run(local_complexity_job(session, layers, split, radius, n_vertices, seed, max_points))


def over_training_key(session, layers=None, k: int = 9, radius: float | None = 0.1, lc_points: int = 256) -> tuple:
    """The memo key of over_training."""
    return ("codes-over-training", tuple(relu_layers(session.model, layers)), k, radius, lc_points,
            id(session.history), len(session.history.checkpoints))


def over_training_job(session, layers=None, k: int = 9, radius: float | None = 0.1, lc_points: int = 256) -> Job:
    """Redundancy (train/test) and k-NN accuracy (on METRICS_MAX inputs per split, stratified) and mean local
    complexity at radius (None: skip; on a seeded sample of lc_points inputs per split) at each checkpoint of
    session.history, on a copy of the model."""
    checkpoints = list(session.history.checkpoints)
    if not checkpoints:
        raise ValueError("the session has no checkpoints: train it first (session.train(...) keeps them)")
    key = over_training_key(session, layers, k, radius, lc_points)

    return Job(key, lambda: private_copy(session.model),  # never load weights into the user's model
               lambda model, progress: _over_training(model, session.data, checkpoints, key[1], k, progress, radius,
                                                      lc_points), "codes over training",
               lambda: over_training_estimate(session, key[1], len(checkpoints), radius, lc_points))


def over_training_estimate(session, layers: tuple, count: int, radius: float | None, lc_points: int) -> Estimate:
    """Per checkpoint: the codes of the sampled splits (data.sample's count), the k-NN, and (radius not None)
    local complexity on lc_points inputs of each split."""
    data = session.data
    n_train, n_test = (estimates.sample_size(data, s, METRICS_MAX) for s in SPLITS)
    per_input, bits, batch = encoding(session, layers, "train")
    encode = sum(estimates.over(n, batch, per_input * batch) for n in (n_train, n_test))
    each = Estimate(encode + knn_seconds(n_train, n_test, bits), batch * 8 * bits,
                    f"codes of {n_train + n_test:,} inputs")
    if radius is not None:
        each = each + sum((complexity_estimate(session, layers, min(lc_points, len(data.labels(s))), split=s)
                           for s in SPLITS), Estimate(0.0, 0))
    return Estimate(each.seconds * count, each.bytes, f"{count} checkpoints x ({each.what})")


def over_training(session, layers=None, k: int = 9, progress=None, radius: float | None = 0.1,
                  lc_points: int = 256) -> list[dict]:
    """Rows of over_training_job, synchronously (memoised)."""
    return session.run(over_training_job(session, layers, k, radius, lc_points), progress)


def _over_training(model, data, checkpoints, layers, k, progress, radius, lc_points) -> list[dict]:
    from ..device import model_device

    rows, batch = [], {s: data.sample(s, METRICS_MAX)[:2] for s in SPLITS}  # a stratified sample of a large split
    y = {s: batch[s][1].numpy() for s in SPLITS}
    for i, (epoch, state) in enumerate(checkpoints):
        model.load_state_dict(state)
        codes = {s: activation_codes(model, batch[s][0], layers) for s in SPLITS}
        rows.append({"epoch": epoch, **{f"redundancy ratio {s}": redundancy(codes[s])["redundancy ratio"]
                                        for s in SPLITS},
                     f"{k}-NN": knn_accuracy(codes["train"], y["train"], codes["test"], y["test"], k,
                                            model_device(model))})
        if radius is not None:  # grokking shows as local complexity moving late in training (Humayun et al.)
            for s in SPLITS:
                x = data.inputs(s)
                lc = local_complexity(model, x[map_indices(len(x), lc_points, 0)], layers, radius)
                rows[-1][f"local complexity {s}"] = float(lc["total"].mean())
        if progress:
            progress(i + 1, len(checkpoints), {"epoch": epoch})
    return rows


def session_selection(session, layers, split: str, idx) -> dict:
    """selection_summary() of selected inputs of a split (the map's lasso): memory near the packed codes' own."""
    from .metrics import selection_summary

    data = session.data
    return selection_summary(session_codes(session, layers, split), idx, data.labels(split).numpy(), data.n_classes)


def sweep_job(session, preset: dict, name: str = "", backend: str = "sequential", n_jobs: int = 1,
              engine=None) -> Job:
    """The phase chart's sweep of a preset on the session's data (its own models: nothing to prepare), on joblib's
    backend or an engine (a Dask Client or 'tcp://...' address, Ray: explorer.engines); every engine gives the same
    grid, so the key does not name it."""
    from .sweep import sweep

    data = session.data
    parallel = n_jobs if engine is None and backend != "sequential" else 1  # an engine's workers: unknown here
    return Job(("phase", name or tuple(sorted(preset.items()))), lambda: None,
               lambda _, progress: sweep(data, **preset, backend=backend, n_jobs=n_jobs, progress=progress,
                                         engine=engine), "phase sweep",
               lambda: sweep_estimate(data, **{**preset, "n_jobs": parallel}))


def sweep_estimate(data, widths, epochs, sizes=None, depth: int = 1, seed: int = 0, n_jobs: int = 1, **_
                   ) -> Estimate:
    """A phase sweep: per cell, one MLP's training (its own timed steps) and its codes at each checkpoint."""
    from .sweep import seeded_mlp

    n_train = len(data.y["train"])
    sizes = tuple(dict.fromkeys(min(s, n_train) for s in (sizes or (n_train,))))
    x, n_test = estimates.some_inputs(data, "train"), len(data.y["test"])
    seconds, peak = 0.0, 0
    for w in widths:
        model = seeded_mlp(data.shape, w, depth, data.n_classes, seed).eval()
        layers = tuple(relu_layers(model, None))

        def make(b, model=model, layers=layers):
            xb = estimates.repeat(x, b)
            return lambda: activation_codes(model, xb, layers)
        encode = estimates.timed(make, 256)  # a batch of activation_codes
        for n in sizes:  # the training, then per checkpoint the codes of both splits and the k-NN
            codes = estimates.over(n, 256, encode) + estimates.over(n_test, 256, encode)
            seconds += (estimates.train_seconds(model, x, n, max(epochs), n_test)
                        + (codes + knn_seconds(n, n_test, w * depth)) * len(set(epochs)))
        peak = max(peak, 4 * estimates.param_bytes(model))
    cells = len(widths) * len(sizes)
    return Estimate(seconds / max(1, min(n_jobs, cells)), peak * max(1, n_jobs) + len(data.y["train"]) * 4 *
                    math.prod(data.shape), f"{cells} trainings")


def local_complexity_table_job(session, layers=None, radius: float = 0.1, max_points: int | None = 1000) -> Job:
    """Mean local complexity per layer (and 'total'), one row per split, on one copy of the model."""
    jobs = {s: local_complexity_job(session, layers, s, radius, max_points=max_points) for s in SPLITS}

    def compute(model, progress):
        rows = []
        for i, (split, j) in enumerate(jobs.items()):
            rows.append({"split": split, **{k: float(v.mean()) for k, v in j.compute(model, progress).items()}})
            progress(i + 1, len(jobs), {"split": split})
        return rows
    return Job(("codes-lc-table", jobs["test"].key[1], radius, max_points), lambda: private_copy(session.model),
               compute, "local complexity", lambda: jobs["train"].estimate() + jobs["test"].estimate())


def summary_key(session, layers=None, split: str = "test", seed: int = 0, max_points: int | None = None) -> tuple:
    """The memo key of summary_job."""
    return ("codes-summary", tuple(relu_layers(session.model, layers)), split, seed, max_points)


def summary_job(session, layers=None, split: str = "test", seed: int = 0, max_points: int | None = None,
                k: int = 9) -> Job:
    """What the codes map view shows before its map: the code length, redundancy per layer and split, k-NN
    accuracy on codes, and the packed codes of the map's points (map_indices of the split). The codes are
    computed on a private copy of the model, off the kernel's thread."""

    key = summary_key(session, layers, split, seed, max_points)
    data = session.data
    x = {s: data.inputs(s) for s in SPLITS}
    y = {s: data.labels(s).numpy() for s in SPLITS}
    idx = map_indices(len(x[split]), max_points, seed)

    def compute(model, progress):
        from ..device import model_device

        codes = {}
        for i, s in enumerate(SPLITS):
            codes[s] = activation_codes(model, x[s], key[1])
            progress(i + 1, len(SPLITS) + 1, {"encoded": s})
        knn = knn_accuracy(codes["train"], y["train"], codes["test"], y["test"], k, model_device(model))
        progress(len(SPLITS) + 1, len(SPLITS) + 1, {})
        return {"bits": codes[split].n_bits, "knn": knn, "k": k, "determinism": determinism(codes),
                "sample": sampled(codes[split], idx), "indices": idx}

    def estimate():
        return codes_estimate(session, key[1], SPLITS)
    return Job(key, lambda: private_copy(session.model), compute, "codes and their metrics", estimate)


def embed_job(codes, key: tuple, method: str = "PCA", seed: int = 0) -> Job:
    """(n, 2) map of codes already computed (summary_job's sample): nothing of the model is used. key names the
    codes (the summary's key); the session adds the weights."""
    n = len(codes)
    return Job(("codes-embed", *key[1:], method), lambda: None,  # = map_key: session_map finds the panel's map
               lambda _, progress: embed_any(codes.bits(), method, seed, progress), f"{method} map",
               lambda: embedding(n, codes.n_bits, method))
