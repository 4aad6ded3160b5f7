"""TCAV: known answers on a model with a planted concept direction, parity with Captum's TCAV, the Job."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.saliency.tcav import TCAVResult, layer_gradients, tcav, tcav_job, tcav_score, train_cav

DIM = 16


class Planted(nn.Module):
    """Layer `feat` (orthogonal, so images <-> activations) then logit_0 = 3 d.a + a.P a with P d = 0: the gradient
    of logit 0 at `feat` is 3 d + 2 P a, so along d it is 3 for every input and along any u orthogonal to d it is
    2 u.P a, whose sign flips with a."""

    def __init__(self, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.feat = nn.Linear(DIM, DIM)
        q, _ = torch.linalg.qr(torch.randn(DIM, DIM, generator=g))
        d = torch.randn(DIM, generator=g)
        self.d = d / d.norm()
        m = torch.randn(DIM, DIM, generator=g)
        self.proj = torch.eye(DIM) - torch.outer(self.d, self.d)
        self.head = nn.Linear(DIM, 4)
        with torch.no_grad():
            self.feat.weight.copy_(q)
            self.feat.bias.zero_()
            self.head.weight.zero_()
            self.head.weight[0] = 3 * self.d
            self.head.bias.zero_()
        self.register_buffer("P", self.proj @ (m + m.T) @ self.proj)
        self.q = q

    def forward(self, x):
        a = self.feat(x.flatten(1))
        return self.head(a) + F.pad(((a @ self.P) * a).sum(1, keepdim=True), (0, 3))

    def images(self, acts):  # activations at `feat` -> the images that give them
        return (acts @ self.q).reshape(-1, 1, 4, 4)


@pytest.fixture(scope="module")
def planted():
    model = Planted().eval()
    g = torch.Generator().manual_seed(1)
    ortho = lambda n: torch.randn(n, DIM, generator=g) @ model.proj  # noqa: E731 - random activations, d-free
    a = torch.randn(20, DIM, generator=g)
    return dict(model=model, concept=model.images(ortho(30) + 4 * model.d), pool=model.images(ortho(200)),
                other=model.images(ortho(30)), inputs=model.images(torch.cat([a, -a])))


def test_gradient_is_the_planted_one(planted):
    model, x = planted["model"], planted["inputs"]
    g, t = layer_gradients(model, x, "feat", 0)
    a = model.feat(x.flatten(1)).detach()
    torch.testing.assert_close(g, 3 * model.d + 2 * a @ model.P, atol=1e-5, rtol=1e-5)
    assert t.tolist() == [0] * len(x)


def test_passes_skip_what_they_do_not_need(planted, unchanged):
    """The gradient pass builds no graph below the layer; the activation passes stop at it: the head runs once."""
    model, p = planted["model"], planted
    head, feat = [], []
    hooks = [model.head.register_forward_hook(lambda *a: head.append(1)),
             model.feat.register_forward_pre_hook(lambda m, i: feat.append(torch.is_grad_enabled()))]
    try:
        with unchanged(model):
            tcav(model, "feat", p["concept"], p["pool"], p["inputs"], target=0, runs=3)
    finally:
        for h in hooks:
            h.remove()
    assert len(head) == 1 and feat == [False] * 6  # 1 + 1 + 4 passes; old: 6 heads, feat with grad first


class Reused(nn.Module):
    """A layer run twice in a forward: TCAV's activations are its last call's (the forward's own)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.f, self.head = nn.Linear(DIM, DIM), nn.Linear(DIM, 2)

    def forward(self, x):
        return self.head(self.f(torch.tanh(self.f(x.flatten(1)))))


def test_reused_layer_takes_the_last_call(planted):
    from explorer.saliency.tcav import layer_activations

    model, p = Reused().eval(), planted
    r = tcav(model, "f", p["concept"], [p["pool"][:30], p["pool"][30:60], p["pool"][60:90]],
             p["inputs"], target=0, runs=2)
    full = [layer_activations(model, s, "f").double().numpy() for s in (p["concept"], p["pool"][30:60])]
    with torch.no_grad():
        assert torch.equal(layer_activations(model, p["concept"], "f"),
                           model.f(torch.tanh(model.f(p["concept"].flatten(1)))))
    np.testing.assert_array_equal(r.cavs[0], train_cav(*full, seed=1)[0])


def test_planted_concept_is_found(planted, unchanged):
    model = planted["model"]
    with unchanged(model):
        r = tcav(model, "feat", planted["concept"], planted["pool"], planted["inputs"], target=0, runs=8)
    assert isinstance(r, TCAVResult) and r.layer == "feat" and r.target == 0
    assert r.score >= 0.9 and r.scores.min() >= 0.8  # near 1: the logit grows along d for every input
    # random CAVs lie in d's orthogonal complement and the inputs come in pairs +-a: exactly half positive
    np.testing.assert_array_equal(r.random_scores, 0.5)
    assert r.significant and r.p_value < 1e-6
    assert (r.cavs @ model.d.numpy()).min() > 0.9  # the CAVs point to the concept
    np.testing.assert_allclose(np.linalg.norm(r.cavs, axis=1), 1, atol=1e-12)


def test_random_concept_is_rejected(planted):
    r = tcav(planted["model"], "feat", planted["other"], planted["pool"], planted["inputs"], target=0, runs=8)
    np.testing.assert_array_equal(r.scores, 0.5)
    assert not r.significant and r.p_value == 1.0


def test_logistic_classifier_and_errors(planted):
    p = planted
    r = tcav(p["model"], "feat", p["concept"], p["pool"], p["inputs"], target=0, runs=3, classifier="logistic")
    assert r.significant and r.score >= 0.9
    with pytest.raises(ValueError, match="classifier 'svm'"):
        tcav(p["model"], "feat", p["concept"], p["pool"], p["inputs"], target=0, classifier="svm")
    with pytest.raises(ValueError, match="runs=1"):
        tcav(p["model"], "feat", p["concept"], p["pool"], p["inputs"], target=0, runs=1)
    with pytest.raises(ValueError, match="one class"):
        tcav(p["model"], "feat", p["concept"], p["pool"], p["inputs"], target=[0, 1] * 20)
    with pytest.raises(ValueError, match="random sets"):
        tcav(p["model"], "feat", p["concept"], [p["pool"][:30]] * 3, p["inputs"], target=0, runs=3)
    with pytest.raises(ValueError, match="NaN|finite"):
        tcav(p["model"], "feat", p["concept"] * np.nan, p["pool"], p["inputs"], target=0)


def test_score_matches_captum_with_the_same_cav(planted):
    """Captum's sign_count is our score when Captum is given our CAV (its own default trains an SGDClassifier on a
    random 67% train split, so its CAV differs; on the planted concept both find the concept)."""
    import tempfile

    from captum.concept import TCAV, Concept
    from captum.concept._utils.classifier import Classifier

    model, p = planted["model"], planted
    from explorer.saliency.tcav import layer_activations

    acts = [layer_activations(model, s, "feat").double().numpy() for s in (p["concept"], p["pool"][:30])]
    cav, _ = train_cav(*acts, seed=3)

    class Fixed(Classifier):
        def __init__(self):
            pass

        def train_and_eval(self, dataloader, **kwargs):
            return {"accs": torch.tensor(1.0)}

        def weights(self):  # rows in classes() order: concept id 0 -> +cav, random id 1 -> -cav
            return torch.tensor(np.stack([cav, -cav]), dtype=torch.float32)

        def classes(self):
            return [0, 1]

    with tempfile.TemporaryDirectory() as tmp:
        concept = Concept(0, "planted", iter([p["concept"]]))
        rand = Concept(1, "random", iter([p["pool"][:30]]))
        inputs = p["inputs"][:15]  # an uneven count, so a score of 0.5 cannot hide a sign error
        got = TCAV(model, ["feat"], classifier=Fixed(), save_path=tmp).interpret(inputs, [[concept, rand]], target=0)
    grads, _ = layer_gradients(model, inputs, "feat", 0)
    ours = tcav_score(grads, cav)
    assert 0 < ours < 1  # some inputs on each side: the counts must agree input by input
    counts = got["0-1"]["feat"]["sign_count"].double() * len(inputs)  # Captum's fractions are float32
    assert counts.round().tolist() == [ours * len(inputs), float((grads.double().numpy() @ -cav > 0).sum())]
    torch.testing.assert_close(counts, counts.round(), atol=1e-5, rtol=0)


def test_job_runs_on_a_copy(planted):
    from types import SimpleNamespace

    p = planted
    session = SimpleNamespace(model=p["model"])
    job = tcav_job(session, "feat", p["concept"], p["pool"], p["inputs"], target=0, runs=3)
    again = tcav_job(session, "feat", p["concept"], p["pool"], p["inputs"], target=0, runs=3)
    other = tcav_job(session, "feat", p["other"], p["pool"], p["inputs"], target=0, runs=3)
    assert job.key == again.key != other.key
    r = job.run()
    assert r.significant and r.score >= 0.9


def test_job_has_an_estimate_of_its_passes(planted, unchanged):
    """The estimate prices a gradient pass of the inputs, a forward of every example set and the fits: more random
    sets cost more; the model is left as it was."""
    from types import SimpleNamespace

    p = planted
    session = SimpleNamespace(model=p["model"])
    with unchanged(p["model"]):
        few = tcav_job(session, "feat", p["concept"], p["pool"], p["inputs"], target=0, runs=3).estimate()
        many = tcav_job(session, "feat", p["concept"], p["pool"], p["inputs"], target=0, runs=30).estimate()
    n, k = len(p["inputs"]), len(p["concept"])
    assert few.what == f"a gradient pass of {n} inputs, a forward of {k * 5} examples and 6 fits"
    assert many.what.endswith(f"a forward of {k * 32} examples and 60 fits") and 0 < few.seconds and few.bytes > 0

