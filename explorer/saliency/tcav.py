"""TCAV (Kim et al. 2018): concept activation vectors at a layer, the TCAV score and its test against random concepts.

A concept is a set of example images; its CAV is the normal of a linear classifier (scikit-learn) separating their
activations at a layer from those of random images, pointing to the concept. The TCAV score of a class is the
fraction of the class's inputs whose logit grows along the CAV (a positive directional derivative). It is computed
for `runs` random sets; the same is done for CAVs of one random set against the others, and a two-sided t-test
(scipy's ttest_ind) says whether the concept's scores differ from those of random concepts (Captum's TCAV tutorial
and Kim et al.'s library do the same).

The test treats the runs as independent, but every concept CAV shares the concept's examples and every null CAV
random set 0: a random concept's scores share its own bias. On a toy model (16-D layer, 30 examples a set, 10 runs)
a random set drawn like the random ones came out "significant" in 40% of 20 draws (tests/saliency/test_tcav.py
rejects one exactly, by construction). Read a significant score as a hypothesis, and compare several random concepts.
"""
from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..capture import capture, eval_mode, stop_after
from ..device import model_device
from ..jobs import Estimate, Job, key, no_progress, private_copy
from ..layers import resolve
from .methods.util import check_input, grad_from, resolve_targets, run_model

CLASSIFIERS = ("sgd", "logistic")
CAVEAT = ("The t-test treats the runs as independent, but every concept CAV shares the concept's examples and every "
          "random one random set 0: on a toy model a random set came out 'significant' in 40% of 20 draws. Read a "
          "significant score as a hypothesis, and compare several random concepts.")  # the module docstring's


@dataclass(frozen=True)
class TCAVResult:
    """The concept's TCAV scores (one per random set), the random concepts' scores, the t-test and the CAVs."""
    layer: str
    target: int
    scores: np.ndarray         # (runs,) concept vs random set i: fraction of inputs with a positive derivative
    random_scores: np.ndarray  # (runs,) random set 0 vs random set i: the null distribution
    p_value: float             # two-sided t-test of scores against random_scores
    significant: bool          # p_value < alpha
    accuracies: np.ndarray     # (runs,) each concept CAV's classifier accuracy on its own training examples
    cavs: np.ndarray           # (runs, D) unit concept activation vectors

    @property
    def score(self) -> float:
        """The mean TCAV score over the random sets."""
        return float(self.scores.mean())


def layer_activations(model: nn.Module, x: torch.Tensor, layer: str, calls: int | None = None) -> torch.Tensor:
    """(N, ...) images -> (N, D) the layer's flattened outputs (eval mode, no grad, hooks removed after). calls: how
    often the layer runs in a forward (known from a full one): the forward stops after the last, skipping the layers
    above (None: the whole forward runs)."""
    x = check_input(x).to(model_device(model))
    with eval_mode(model), torch.no_grad(), capture(model, [layer]) as rec:
        with stop_after(model, layer, calls) if calls else contextlib.nullcontext():
            run_model(model, x)
    return rec.output(layer).flatten(1)


def layer_gradients(model: nn.Module, x: torch.Tensor, layer: str, target) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, D) d logit_t / d layer output, (N,) targets t): targeted autograd.grad, no parameter .grad filled."""
    g, t, _ = _gradients(model, x, layer, target)
    return g, t


def _gradients(model: nn.Module, x: torch.Tensor, layer: str, target) -> tuple[torch.Tensor, torch.Tensor, int]:
    """layer_gradients() and how often the layer ran. The layers below it run without a graph (grad_from): only
    d logit / d layer output is asked for (the same numbers as the full graph)."""
    x = check_input(x).to(model_device(model))
    with eval_mode(model), grad_from(resolve(model, [layer])), capture(model, [layer], keep_graph=True) as rec:
        logits = run_model(model, x)
        t = resolve_targets(target, logits)
        (g,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), rec.output(layer))
    return g.flatten(1).detach(), t, rec.calls(layer)


def train_cav(concept: np.ndarray, random: np.ndarray, classifier: str = "sgd", seed: int = 0):
    """(unit CAV (D,) pointing from the random to the concept activations, training accuracy): scikit-learn's
    SGDClassifier(alpha=0.01, max_iter=1000, tol=1e-3) as Kim et al. and Captum, or LogisticRegression."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    if classifier not in CLASSIFIERS:
        raise ValueError(f"TCAV: classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}")
    a = np.concatenate([concept, random]).astype(np.float64)
    y = np.r_[np.ones(len(concept)), np.zeros(len(random))]
    lm = (SGDClassifier(alpha=0.01, max_iter=1000, tol=1e-3, random_state=seed) if classifier == "sgd"
          else LogisticRegression(max_iter=1000))
    lm.fit(a, y)
    w = lm.coef_[0]  # classes_ = [0, 1]: coef_ points to the concept (label 1)
    norm = np.linalg.norm(w)
    if not norm > 0:
        raise ValueError("TCAV: the classifier found no direction between the concept and the random examples "
                         "(their activations at this layer are equal?)")
    return w / norm, float(lm.score(a, y))


def tcav_score(grads: torch.Tensor | np.ndarray, cav: np.ndarray) -> float:
    """The fraction of inputs whose directional derivative grads (N, D) . cav is positive."""
    return float((np.asarray(grads, dtype=np.float64) @ cav > 0).mean())


def random_sets(pool: torch.Tensor, runs: int, size: int, seed: int = 0) -> list[torch.Tensor]:
    """runs + 1 random sets of `size` images drawn without replacement, each from the pool (seeded)."""
    if size > len(pool):
        raise ValueError(f"TCAV: {size} images per random set but only {len(pool)} random images")
    g = torch.Generator().manual_seed(seed)
    return [pool[torch.randperm(len(pool), generator=g)[:size]] for _ in range(runs + 1)]


def tcav(model: nn.Module, layer: str, concept, randoms, inputs, target="predicted", runs: int = 10,
         classifier: str = "sgd", alpha: float = 0.05, seed: int = 0, progress=no_progress) -> TCAVResult:
    """TCAV of a concept (example images) at a layer for the inputs' target class. randoms: a list of runs + 1
    random image sets (set 0 is the null's reference), or one tensor of random images to draw them from (seeded).

    Returns the scores against each random set, the random concepts' scores and a two-sided t-test between them."""
    from scipy.stats import ttest_ind

    concept = check_input(concept)
    if runs < 2:
        raise ValueError(f"TCAV: runs={runs}; the t-test needs at least 2 random sets")
    if isinstance(randoms, torch.Tensor):
        randoms = random_sets(check_input(randoms), runs, len(concept), seed)
    randoms = [check_input(r) for r in randoms]
    if len(randoms) < runs + 1:
        raise ValueError(f"TCAV: {len(randoms)} random sets for runs={runs}; pass runs + 1 (set 0 is the null's "
                         f"reference) or one tensor of random images")
    grads, t, calls = _gradients(model, inputs, layer, target)  # first: how often the layer runs in a forward
    if len(set(t.tolist())) > 1:
        raise ValueError(f"TCAV explains one class: the inputs' targets are {sorted(set(t.tolist()))}; "
                         f"pass inputs of one class or one target")
    acts = [layer_activations(model, s, layer, calls).double().cpu().numpy() for s in (concept, *randoms[:runs + 1])]
    grads = grads.double().cpu().numpy()
    scores, nulls, accs, cavs = [], [], [], []
    for i in range(1, runs + 1):
        cav, acc = train_cav(acts[0], acts[1 + i], classifier, seed + i)
        scores.append(tcav_score(grads, cav))
        accs.append(acc)
        cavs.append(cav)
        null, _ = train_cav(acts[1], acts[1 + i], classifier, seed + i)
        nulls.append(tcav_score(grads, null))
        progress(i, runs, None)
    scores, nulls = np.array(scores), np.array(nulls)
    # equal score lists (e.g. all 1.0 against all 1.0) give nan: no difference at all, not significant
    with warnings.catch_warnings():  # scipy warns of precision loss when one group is constant (e.g. all 0.5)
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind(scores, nulls).pvalue) if np.ptp(np.r_[scores, nulls]) > 0 else 1.0
    p = 1.0 if np.isnan(p) else p
    return TCAVResult(layer, int(t[0]), scores, nulls, p, p < alpha, np.array(accs), np.stack(cavs))


def digest(*tensors) -> str:
    """A content digest of image tensors, so a job's key names the example sets it was given."""
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            h.update(digest(*t).encode())
            continue
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def tcav_job(session, layer: str, concept, randoms, inputs, target="predicted", runs: int = 10,
             classifier: str = "sgd", alpha: float = 0.05, seed: int = 0) -> Job:
    """tcav() on a private copy of the session's model, as a Job."""
    sets = randoms if isinstance(randoms, torch.Tensor) else list(randoms)
    k = key("saliency-tcav", layer, digest(concept, sets, inputs), target if isinstance(target, (int, str))
            else digest(torch.as_tensor(target)), runs, classifier, alpha, seed)
    return Job(k, lambda: private_copy(session.model),
               lambda twin, progress: tcav(twin, layer, concept, sets, inputs, target, runs, classifier, alpha, seed,
                                           progress), "TCAV",
               lambda: tcav_estimate(session.model, layer, concept, sets, inputs, runs, classifier, session))


def tcav_estimate(model, layer: str, concept, randoms, inputs, runs: int, classifier: str = "sgd",
                  session=None) -> Estimate:
    """A forward and backward of the inputs and a forward of every example set (timed passes, whole forwards: the
    passes that stop at the layer cost less), and 2 x runs linear fits, one timed on seeded random activations of
    the layer's size (on a small model the fits are most of the time)."""
    from .. import estimates

    session = session if hasattr(session, "memo") else None  # a stand-in without the memo: timed now
    x = check_input(inputs)
    sets = len(randoms) if not isinstance(randoms, torch.Tensor) else runs + 1
    examples = len(concept) * (1 + sets)  # the concept and each random set (or as many drawn from a pool)
    k, d = len(concept), layer_activations(model, x[:1], layer).shape[1]
    fake = np.random.default_rng(0).standard_normal((2 * k, d))
    fake[:k] += 1  # separable, as a concept is meant to be: a fit on noise runs all 1,000 iterations
    import sklearn.linear_model  # noqa: F401 - once per kernel: not a fit's cost
    start = time.perf_counter()
    train_cav(fake[:k], fake[k:], classifier)
    fits = 2 * runs * (time.perf_counter() - start)
    seconds = (estimates.pass_seconds(model, x[:2], len(x), "gradient", session)
               + estimates.forwards(model, x[:2], examples, session=session) + fits)
    return Estimate(seconds, len(x) * 3 * estimates.activation_bytes(model, x[:2]),
                    f"a gradient pass of {len(x)} inputs, a forward of {examples} examples and {2 * runs} fits")
