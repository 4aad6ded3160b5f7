"""What the landscape panel asks of a session: evaluation sets, axes by kind, one point, the spectrum."""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np
import torch

from .. import estimates
from ..capture import eval_mode
from ..data import as_model_input
from ..jobs import Estimate, Job, private_copy
from . import functional as fn
from .directions import pca_directions, random_plane
from .hessian import DENSE_MAX, HessianOperator, eigen_path, eigenvalue_density, top_eigen, trace
from .slices import on_params, point

AXES = ("random", "pca", "hessian")
BN_N = 256  # training inputs BatchNorm statistics are recomputed on (a stratified sample)


def eval_batch(data, n: int = 512, split: str = "test", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n inputs and labels of a split, a fixed evaluation set: data.sample(split, n, seed), stratified by class so
    that a class-sorted dataset is not evaluated on its first class (all of the split for n >= its size)."""
    return data.sample(split, n, seed)[:2]


def axes(model, data, history, kind: str = "random", norm: str = "filter", one_d: str = "zero",
         seed: int = 0, hessian_n: int = 256) -> tuple[dict, dict]:
    """Two directions: Gaussian ('random'), the trajectory's top principal components ('pca') or the top two
    Hessian eigenvectors on hessian_n training inputs ('hessian').

    The unit PCA and Hessian axes are scaled to the norm of the weights they cover, so that for every kind
    alpha = 1 is a step as long as the weights (as with filter-normalised random axes, Li et al. 2018).
    """
    if kind == "random":
        return random_plane(model, norm, one_d, seed)
    if kind == "pca":
        if len(history.checkpoints) < 3:
            raise ValueError("PCA axes need a training trajectory with at least 3 checkpoints: train the model first")
        dirs, _ = pca_directions(model, history.checkpoints, k=2, one_d=one_d)
        return _to_weight_norm(model, dirs[0]), _to_weight_norm(model, dirs[1])
    if kind == "hessian":
        op = HessianOperator.of(model, *eval_batch(data, hessian_n, "train"))
        _, vecs = top_eigen(op, k=2, seed=seed)
        op.release()
        return _to_weight_norm(model, op.to_dict(vecs[0])), _to_weight_norm(model, op.to_dict(vecs[1]))
    raise ValueError(f"unknown direction type {kind!r}; choose one of {', '.join(AXES)}")


def _to_weight_norm(model, d: dict) -> dict:
    """d rescaled to the norm of the weights of the tensors where it is non-zero."""
    base = fn.base_params(model)
    wn = sum(float(base[k].norm()) ** 2 for k, v in d.items() if torch.count_nonzero(v)) ** 0.5
    dn = sum(float(v.norm()) ** 2 for v in d.values()) ** 0.5
    return {k: v * (wn / max(dn, 1e-12)) for k, v in d.items()}


@torch.no_grad()
def at_point(model, d1: dict, d2: dict | None, a: float, b: float, x, y, shown: torch.Tensor) -> dict:
    """Loss and accuracy on (x, y) and predicted classes of `shown` at theta + a d1 + b d2 (functional).

    x and shown follow the one input rule (explorer.data.as_model_input); a NaN or infinite a, b or direction is
    a ValueError (a loss that is not finite comes back as NaN: the panel draws it as a gap).
    """
    for name, v in (("alpha", a), ("beta", b)):
        if not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number; got {v!r}")
    x, shown = as_model_input(x, model, "inputs"), as_model_input(shown, model, "shown images")
    base, buffers = fn.base_params(model), fn.base_buffers(model)
    device = next(iter(base.values())).device
    d1, d2 = on_params(d1, base, "d1"), None if d2 is None else on_params(d2, base, "d2")
    params = {k: point(w, d1[k], a, None if d2 is None else d2[k], b) for k, w in base.items()}
    loss, acc = fn.metrics(model, params, buffers, x.to(device), y.to(device))
    with eval_mode(model):
        probs = fn.forward(model, params, buffers, shown.to(device)).float().softmax(1).cpu()
    return {"loss": loss, "accuracy": acc, "predictions": probs.argmax(1).numpy(),
            "confidence": probs.max(1)[0].numpy()}


def spectrum(model, x, y, k: int = 3, iters: int = 40, seed: int = 0, layers=None, progress=None,
             trace_iters: int = 200) -> dict:
    """Top-k eigenvalues, Hutchinson trace (at most trace_iters samples) and the SLQ density on a grid of 300
    points; progress(done, 3, {"next": stage}) after each of the three stages.

    Also: "path" (the eigenvalue method that ran: 'dense' for small models, else 'lanczos'), "hvps" (Hessian-vector
    products per stage: top, trace, density) and "trace_se" (the trace's standard error; +-2 SE is about 95%).
    """
    from .hessian import density

    report = progress or (lambda *a: None)
    op = HessianOperator.of(model, x, y, layers=layers)
    path = eigen_path(op)
    report(0, 3, {"next": f"top {k} eigenvalues"})
    top, _ = top_eigen(op, k=k, seed=seed)
    hvps = {"top": op.hvps}
    report(1, 3, {"next": "trace"})
    tr = trace(op, max_iter=trace_iters, seed=seed)
    hvps["trace"] = op.hvps - hvps["top"]
    report(2, 3, {"next": "density"})
    nodes, weights = eigenvalue_density(op, iters=iters, seed=seed)
    hvps["density"] = op.hvps - hvps["top"] - hvps["trace"]
    report(3, 3, {})
    flat = np.concatenate([np.asarray(n) for n in nodes])
    pad = 0.05 * max(flat.max() - flat.min(), 1e-3)
    grid = np.linspace(flat.min() - pad, flat.max() + pad, 300)
    op.release()
    return {"top": top, "trace": tr.estimate, "trace_std": float(np.std(tr.samples)),
            "trace_samples": len(tr.samples), "trace_se": tr.se, "grid": grid,
            "density": density(nodes, weights, grid), "n": len(x), "path": path, "hvps": hvps}


def top_hvps(dim: int, k: int) -> int:
    """Products top_eigen(k) runs on `dim` parameters: every column of the dense Hessian up to DENSE_MAX, else a
    Lanczos run, whose length depends on the spectrum (measured on the default CNN for k = 1 to 3: 6 to 8 products
    trained, 21 to 22 untrained): 3k + 5."""
    return dim if dim <= DENSE_MAX else min(100, dim, 3 * k + 5)


def hvp_seconds(session, n: int, split: str = "train") -> tuple[float, float]:
    """(seconds of a HessianOperator's first product on n inputs: its retained graph and the product; seconds of
    each further product), timed on a batch of the split's inputs once per session and scaled to n."""
    model, data = session.model, session.data
    x, y = estimates.some_inputs(data, split), data.labels(split)[:8]
    ref = next(model.parameters())
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64).to(device=ref.device, dtype=ref.dtype)

    def first(b):
        xb, yb = estimates.repeat(x, b), estimates.repeat(y, b)
        return lambda: HessianOperator.of(model, xb, yb).matvec(v)

    def further(b):
        op = HessianOperator.of(model, estimates.repeat(x, b), estimates.repeat(y, b))
        op.matvec(v)
        return lambda: op.matvec(v)
    key, device = (tuple(x.shape[1:]),), session.device
    return (estimates.calibrated(session, ("hvp-first", *key), first, n, device),
            estimates.calibrated(session, ("hvp", *key), further, n, device))


def vector_seconds(session) -> float:
    """Seconds of one step of Lanczos' reorthogonalisation against one basis vector (w - (w.b) b) over all the
    parameters: memory-bound, it matters for large models (resnet18's 11 M parameters)."""
    dim = sum(p.numel() for p in session.model.parameters())

    def make(_):
        w, b = (torch.rand(dim, device=session.device) for _ in range(2))
        return lambda: w - (w @ b) * b
    return estimates.calibrated(session, ("lanczos-step", dim), make, 1, session.device)


def hessian_estimate(session, n: int, products: int, lanczos: int, what: str) -> Estimate:
    """`products` Hessian-vector products on n training inputs, `lanczos` of them in runs with full
    reorthogonalisation (about lanczos^2 vector steps); the retained graph and copies of the weights."""
    first, each = hvp_seconds(session, n)
    sec = first + max(products - 1, 0) * each + lanczos * lanczos * vector_seconds(session)
    x = estimates.some_inputs(session.data, "train")
    return Estimate(sec, 3 * n * estimates.activation_bytes(session.model, x)
                    + 6 * estimates.param_bytes(session.model), what)


def spectrum_estimate(session, k: int = 3, n: int = 256, trace_iters: int = 50, iters: int = 40) -> Estimate:
    """spectrum() on data.sample's count of n training inputs: the top k, at most trace_iters trace samples (the
    2% rule never stops early on the default CNN or resnet18) and `iters` density steps."""
    n = estimates.sample_size(session.data, "train", n)
    dim = sum(p.numel() for p in session.model.parameters())
    top, density = top_hvps(dim, k), min(iters, dim)
    lanczos = (0 if dim <= DENSE_MAX else top) + density
    return hessian_estimate(session, n, top + trace_iters + density, lanczos,
                            f"{top + trace_iters + density} Hessian-vector products on {n} inputs")


def project(model, checkpoints, d1: dict, d2: dict) -> np.ndarray:
    """(n, 2) coordinates of each checkpoint's theta - theta* along d1 and d2 (least squares on the plane)."""
    base = fn.base_params(model)
    d1, d2 = on_params(d1, base, "d1"), on_params(d2, base, "d2")
    flat = lambda d: torch.cat([d[k].reshape(-1).double() for k in base])  # noqa: E731
    basis = torch.stack([flat(d1), flat(d2)], 1)  # (P, 2)
    rows = [flat({k: s[k].to(w.device) - w for k, w in base.items()}) for _, s in checkpoints]
    if not rows:
        return np.zeros((0, 2))
    return torch.linalg.lstsq(basis, torch.stack(rows, 1)).solution.t().cpu().numpy()


def endpoints(history, model) -> dict[str, dict]:
    """Models to interpolate between: each checkpoint of the trajectory by epoch, and the current model."""
    out = {f"epoch {e}": s for e, s in history.checkpoints}
    out["current model"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return out


# --- jobs: what the panel runs off the kernel's thread, and notebooks run with session.run(job) -------------------
def axes_job(session, kind: str = "random", norm: str = "filter", seed: int = 0, one_d: str = "zero") -> Job:
    """axes() of the session's model (Hessian axes on a copy: they take HVPs)."""
    data, history = session.data, session.history

    def estimate():  # random and PCA axes: a few copies of the weights; Hessian axes: the top two eigenvectors
        if kind != "hessian":
            return Estimate(0.1, 4 * estimates.param_bytes(session.model), f"{kind} directions")
        dim = sum(p.numel() for p in session.model.parameters())
        top = top_hvps(dim, 2)
        return hessian_estimate(session, estimates.sample_size(data, "train", 256), top,
                                0 if dim <= DENSE_MAX else top, f"{top} Hessian-vector products")
    return Job(("landscape-axes", kind, norm, one_d, seed), lambda: private_copy(session.model),
               lambda twin, progress: axes(twin, data, history, kind, norm, one_d, seed), f"{kind} axes", estimate)


def slice_job(session, axes_: tuple, kind: str = "random", norm: str = "filter", seed: int = 0, span: float = 1.0,
              n: int = 21, bn: str = "keep", n_eval: int = 512) -> Job:
    """The slice through axes_ (from axes_job with the same kind, norm and seed) on a copy of the model; each
    refined snapshot streams as progress info {"partial": surface}."""
    from .slices import axis, slice_grid

    axis(span, n)  # a bad range or resolution: a clear error before any work
    data = session.data

    def prepare():  # the thread gets its own copy: functional_call swaps a module's tensors while it runs
        return (private_copy(session.model), eval_batch(data, n_eval),
                eval_batch(data, BN_N, "train")[0] if bn == "recompute" else None)

    def compute(prepared, progress):
        twin, (x, y), bn_x = prepared

        def stream(done, total, surf):  # a snapshot: the grid keeps refining while it is drawn
            progress(done, total, {"partial": dataclasses.replace(
                surf, loss=surf.loss.copy(), accuracy=surf.accuracy.copy(), done=surf.done.copy())})
        return slice_grid(twin, x, y, *axes_, span=span, n=n, bn=bn, bn_x=bn_x, callback=stream)

    def estimate():  # a point timed on a batch of the inputs (not the sample: its count), times the points
        from .slices import estimate as slice_estimate

        x, y = estimates.some_inputs(data), data.labels("test")[:8]
        e = slice_estimate(session.model, x, y, n=n, bn=bn, n_inputs=estimates.sample_size(data, "test", n_eval),
                           bn_x=estimates.some_inputs(data, "train") if bn == "recompute" else None,
                           n_bn=estimates.sample_size(data, "train", BN_N), session=session)
        return Estimate(e["seconds"], e["bytes_per_point"] + e["points"] * 16,
                        f"{e['points']} points x {e['seconds_per_point'] * 1e3:.1f} ms")
    return Job(("landscape-slice", kind, norm, seed, span, n, bn, n_eval), prepare, compute, "slice", estimate)


def path_job(session, a: str, b: str, bn: bool = False, align: bool = False, n_eval: int = 512,
             alphas=None) -> Job:
    """Loss and error along (1 - α) θ_A + α θ_B between two of endpoints() (B aligned first if asked)."""
    from .align import weight_matching
    from .connect import interpolate

    alphas = np.linspace(-0.25, 1.25, 49) if alphas is None else np.asarray(alphas)
    ends = endpoints(session.history, session.model)
    for name in (a, b):
        if name not in ends:
            raise ValueError(f"unknown end point {name!r}; choose one of {', '.join(ends)}")

    def prepare():
        return (private_copy(session.model), eval_batch(session.data, n_eval),
                eval_batch(session.data, BN_N, "train")[0] if bn else None)

    def compute(prepared, progress):
        twin, (x, y), bn_x = prepared
        target = weight_matching(twin, ends[a], ends[b], check_x=x)[0] if align else ends[b]
        return interpolate(twin, ends[a], target, x, y, alphas=alphas, bn_x=bn_x,
                           callback=lambda d, t, _: progress(d, t))
    def estimate():  # one evaluation per alpha (and a BatchNorm forward on BN_N train inputs)
        data, model = session.data, session.model
        x = estimates.some_inputs(data)
        n = estimates.sample_size(data, "test", n_eval) + (estimates.sample_size(data, "train", BN_N) if bn else 0)
        return Estimate(len(alphas) * estimates.forwards(model, x, n, session=session),
                        min(n, fn.EVAL_BATCH) * estimates.activation_bytes(model, x) + 3 * estimates.param_bytes(model),
                        f"{len(alphas)} points of the path")
    history = (id(session.history), len(session.history.checkpoints))  # "epoch 3" of this training, not another's
    return Job(("landscape-path", a, b, bn, align, n_eval, tuple(np.round(alphas, 12)), history), prepare, compute,
               "interpolation", estimate)


def spectrum_job(session, k: int = 3, seed: int = 0, n: int = 256, trace_iters: int = 50) -> Job:
    """spectrum() on n training inputs, on a copy of the model. At most trace_iters Hutchinson samples: a
    ResNet-18's trace never meets the 2% rule, and its 200 samples took 321 s of a 725 s spectrum on one CPU."""
    return Job(("landscape-hessian", k, seed, n, trace_iters),
               lambda: (private_copy(session.model), eval_batch(session.data, n, "train")),
               lambda prepared, progress: spectrum(prepared[0], *prepared[1], k=k, seed=seed, progress=progress,
                                                   trace_iters=trace_iters), "Hessian spectrum",
               lambda: spectrum_estimate(session, k, n, trace_iters))


def layer_spectra_job(session, groups="layer", k: int = 1, n: int = 256, trace_samples: int = 20,
                      seed: int = 0) -> Job:
    """blockwise.layer_spectra on n training inputs, on a copy of the model: per parameter group, the top k and
    the trace with its standard error. Over training: the same job on session.at(checkpoint) for each checkpoint."""
    from .blockwise import layer_spectra, parameter_groups

    names = parameter_groups(session.model, groups) if isinstance(groups, str) else list(groups)

    def estimate():
        sizes = dict(session.model.named_modules())
        dims = [sum(p.numel() for p in sizes[g].parameters()) for g in names]
        top = sum(top_hvps(d, k) for d in dims)
        return hessian_estimate(session, estimates.sample_size(session.data, "train", n),
                                top + len(names) * trace_samples, sum(top_hvps(d, k) for d in dims if d > DENSE_MAX),
                                f"{len(names)} groups: {top + len(names) * trace_samples} Hessian-vector products")
    return Job(("landscape-layer-spectra", tuple(names), k, n, trace_samples, seed),
               lambda: (private_copy(session.model), eval_batch(session.data, n, "train")),
               lambda prepared, progress: layer_spectra(prepared[0], *prepared[1], groups=names, k=k,
                                                        trace_samples=trace_samples, seed=seed, progress=progress),
               "per-layer Hessian", estimate)


def layer_spectra_training_job(session, groups="layer", k: int = 1, n: int = 256, trace_samples: int = 20,
                               seed: int = 0, checkpoints=None) -> Job:
    """layer_spectra at training checkpoints (indices into session.history.checkpoints, None: all) and on the
    current model: {label: [GroupSpectrum]} in training order, labels 'epoch e' and 'current model'. Each
    checkpoint is loaded into a private copy; the same inputs and seed for all, so the curves compare."""
    from .blockwise import layer_spectra, parameter_groups

    names = parameter_groups(session.model, groups) if isinstance(groups, str) else list(groups)
    history = session.history
    chosen = range(len(history.checkpoints)) if checkpoints is None else list(checkpoints)
    states = [(f"epoch {history.checkpoints[i][0]}", history.checkpoints[i][1]) for i in chosen]

    def prepare():
        return [*states, ("current model", None)], private_copy(session.model), eval_batch(session.data, n, "train")

    def compute(prepared, progress):
        (todo, twin, (x, y)), out = prepared, {}
        current = {k: v.detach().clone() for k, v in twin.state_dict().items()}
        for i, (label, state) in enumerate(todo):
            twin.load_state_dict(current if state is None else state)
            step = (lambda d, t, info, i=i: progress(i * len(names) + d, len(todo) * len(names), info))
            out[label] = layer_spectra(twin, x, y, groups=names, k=k, trace_samples=trace_samples, seed=seed,
                                       progress=step)
        return out

    def estimate():
        one = layer_spectra_job(session, names, k, n, trace_samples, seed).estimate()
        return Estimate(one.seconds * (len(states) + 1), one.bytes, f"{len(states) + 1} models x {one.what}")
    return Job(("landscape-layer-spectra-training", tuple(names), k, n, trace_samples, seed, tuple(chosen),
                (id(history), len(history.checkpoints))), prepare, compute, "per-layer Hessian over training",
               estimate)


def activation_spectra_job(session, layers, k: int = 1, n: int = 256, seed: int = 0) -> Job:
    """blockwise.activation_spectra (the Hessian w.r.t. each layer's output) on n training inputs, on a copy."""
    from .blockwise import activation_spectra

    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    return Job(("landscape-activation-spectra", layers, k, n, seed),
               lambda: (private_copy(session.model), eval_batch(session.data, n, "train")),
               lambda prepared, progress: activation_spectra(prepared[0], *prepared[1], layers, k=k, seed=seed,
                                                             progress=progress), "activation Hessian")
