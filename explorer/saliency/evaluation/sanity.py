"""Sanity checks for saliency maps (Adebayo et al. 2018): model- and data-randomisation, on copies of the model."""
from __future__ import annotations

import copy
import dataclasses
import math

import torch
from torch import nn

from ...capture import eval_mode
from ...device import model_device
from ...train import train
from ..methods.attribution import Attribution
from ..methods.explainer import named_methods
from ..methods.scoring import is_target
from ..methods.util import ClassesOnly, check_input, resolve_targets, run_model
from .similarity import spearman, ssim

MODES = ("cascading", "independent")


def param_layers(model: nn.Module) -> list[str]:
    """Names of the modules holding parameters themselves, input to output (registration order)."""
    return [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))]


def reinit(module: nn.Module, seed: int) -> None:
    """Seeded re-initialisation of one layer (its own reset_parameters, BatchNorm statistics included); the global RNG
    is restored afterwards."""
    dev = next(module.parameters()).device
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(seed)
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:  # no initialiser of its own: Gaussian noise of the parameters' scale
            for p in module.parameters(recurse=False):
                p.normal_(0, float(p.std()) if p.numel() > 1 else 1.0)


def signed_and_maps(method, model, x, t) -> tuple[torch.Tensor, torch.Tensor]:
    """(signed (N, H, W), map (N, H, W) in [0, 1]): attribution methods' channel sum, else the map itself."""
    if isinstance(method, Attribution):
        attr = method.attributions(model, x, t)
        maps = method(model, x, t)
        return attr.sum(1).cpu(), maps.cpu()
    maps = method(model, x, t).cpu()
    return maps, maps


def _mean(values) -> float:
    """Mean ignoring NaN (a constant map has no rank correlation); NaN if every value is."""
    v = [x for x in values if not math.isnan(x)]
    return sum(v) / len(v) if v else float("nan")


def compare(a: tuple, b: tuple) -> dict:
    """Mean over images of Spearman (signed maps), Spearman of |signed| and SSIM of the [0, 1] maps."""
    (sa, ma), (sb, mb) = a, b
    n = len(ma)
    return {"spearman": _mean(spearman(sa[i], sb[i]) for i in range(n)),
            "spearman_abs": _mean(spearman(sa[i].abs(), sb[i].abs()) for i in range(n)),
            "ssim": _mean(ssim(ma[i], mb[i]) for i in range(n))}


def model_randomization(model: nn.Module, x, methods, targets="predicted", labels=None, mode: str = "cascading",
                        layers=None, seed: int = 0, progress=None) -> dict:
    """Similarity between each method's maps on the model and on copies with layers re-initialised (seeded).

    mode 'cascading': layers re-initialised cumulatively from the top (output) down; 'independent': one layer at a
    time, the rest as trained. Targets are resolved once on the original model. Returns {'layers': ['original', ...
    randomised layer names], 'methods': {name: {'spearman': [...], 'spearman_abs': [...], 'ssim': [...]}}}, each
    curve starting at 1 for the original model. progress(done, total, info) after each layer.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    x = check_input(x).to(model_device(model))
    methods = named_methods(methods)
    names = param_layers(model) if layers is None else list(layers)
    known = set(param_layers(model))
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ValueError(f"no parametrised layer(s) {bad or names}; choose from {', '.join(sorted(known)) or 'none'}")
    order = names[::-1]  # top down
    with torch.no_grad(), eval_mode(model):  # class indices, or a target object (targets.py) the maps explain
        t = resolve_targets(targets, run_model(model, x, any_output=True), labels, objects=True)
    base = {k: signed_and_maps(m, model, x, t) for k, m in methods.items()}
    curves = {k: {"spearman": [1.0], "spearman_abs": [1.0], "ssim": [1.0]} for k in methods}
    work = copy.deepcopy(model)
    for i, name in enumerate(order):
        if mode == "independent":
            work = copy.deepcopy(model)
        reinit(dict(work.named_modules())[name], seed + i)
        for k, m in methods.items():
            for metric, v in compare(base[k], signed_and_maps(m, work, x, t)).items():
                curves[k][metric].append(v)
        if progress is not None:
            progress(i + 1, len(order), {"layer": name})
    return {"layers": ["original", *order], "mode": mode, "methods": curves}


def shuffled_labels(data, seed: int = 0):
    """A copy of the dataset whose training labels are permuted (seeded); test labels kept."""
    gen = torch.Generator().manual_seed(seed)
    y = dict(data.y)
    y["train"] = y["train"][torch.randperm(len(y["train"]), generator=gen)]
    return dataclasses.replace(data, y=y)


def data_randomization(model: nn.Module, data, x, methods, targets="predicted", labels=None, epochs: int = 15,
                       seed: int = 0, progress=None, **train_kwargs) -> dict:
    """Similarity between each method's maps on the model and on the same architecture trained (explorer.train) from
    a seeded re-initialisation on shuffled labels. Returns {'methods': {name: {'spearman', 'spearman_abs', 'ssim'}},
    'train_accuracy': the shuffled model's accuracy on its own (shuffled) training labels}."""
    x = check_input(x).to(model_device(model))
    if is_target(targets):
        raise ClassesOnly(f"data randomisation retrains a classifier on shuffled class labels: not for a target "
                          f"object ({targets!r})")
    methods = named_methods(methods)
    with torch.no_grad(), eval_mode(model):
        t = resolve_targets(targets, run_model(model, x), labels)
    other = copy.deepcopy(model)
    for i, name in enumerate(param_layers(other)):
        reinit(dict(other.named_modules())[name], seed + i)
    shuffled = shuffled_labels(data, seed)
    train(other, shuffled, epochs=epochs, seed=seed, progress=progress, checkpoint_epochs=[], **train_kwargs)
    other.eval()
    from ...train import evaluate

    acc = evaluate(other, shuffled.inputs("train").to(model_device(other)), shuffled.labels("train")).accuracy
    out = {k: compare(signed_and_maps(m, model, x, t), signed_and_maps(m, other, x, t)) for k, m in methods.items()}
    return {"methods": out, "train_accuracy": acc}
