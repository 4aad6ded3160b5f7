"""Training is seeded and reproducible, keeps checkpoints, restores modes; evaluation has known answers."""
import copy
import math

import pytest
import torch
from torch import nn

from explorer.models import build_model
from explorer.train import eval_mode, evaluate, train


class FixedLogits(nn.Module):
    """Returns the same logits for every input, with a dropout that only eval mode silences."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits))
        self.drop = nn.Dropout(0.9)

    def forward(self, x):
        return self.drop(self.logits.expand(len(x), -1))


def test_evaluate_known_answer():
    m = FixedLogits([0.0, math.log(3.0)]).train()  # probabilities 1/4, 3/4
    ev = evaluate(m, torch.zeros(4, 1), torch.tensor([1, 1, 0, 1]))
    assert ev.accuracy == pytest.approx(0.75)
    assert ev.loss == pytest.approx((3 * -math.log(0.75) - math.log(0.25)) / 4, rel=1e-6)
    assert torch.allclose(ev.probabilities[0], torch.tensor([0.25, 0.75]))
    assert m.training and m.drop.training, "evaluate must restore the mode"


def test_eval_mode_restores_mixed_modes():
    m = nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2))
    m[1].eval()
    with eval_mode(m):
        assert not any(x.training for x in m.modules())
    assert [x.training for x in m.modules()] == [True, True, False]


def test_training_is_reproducible_and_keeps_checkpoints(digits):
    a, b = build_model("cnn", digits, seed=1).eval(), build_model("cnn", digits, seed=1)
    calls = []
    ha = train(a, digits, epochs=2, seed=5, progress=lambda d, t, i: calls.append((d, t)))
    hb = train(b, digits, epochs=2, seed=5, checkpoint_epochs=[2])
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert [e for e, _ in ha.checkpoints] == [0, 1, 2] and [e for e, _ in hb.checkpoints] == [2]
    assert torch.equal(ha.checkpoints[-1][1]["fc.weight"], a.fc.weight.detach())
    assert not torch.equal(ha.checkpoints[0][1]["fc.weight"], a.fc.weight.detach())
    assert calls[-1] == (calls[-1][1], calls[-1][1]) and len(calls) == calls[-1][1]
    assert not a.training and b.training, "training must restore each model's own mode"
    assert all(p.grad is None for p in a.parameters())
    assert ha.test_loss[-1] < ha.test_loss[0] or ha.test_accuracy[-1] > ha.test_accuracy[0]


def test_default_cnn_reaches_95_percent(trained_session):
    assert trained_session.evaluate("test").accuracy >= 0.95
    assert trained_session.history.test_accuracy[-1] == trained_session.evaluate("test").accuracy


def test_bad_training_arguments(digits):
    with pytest.raises(ValueError, match="epochs"):
        train(build_model("cnn", digits), digits, epochs=-1)
    with pytest.raises(ValueError, match="4 inputs but 3 labels"):
        evaluate(nn.Flatten(), torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))


def test_our_adam_is_torch_adam_bit_for_bit_and_never_imports_dynamo():
    import subprocess
    import sys

    from explorer.optim import Adam

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    twin = copy.deepcopy(net)
    ours, theirs = Adam(net.parameters(), lr=3e-3, weight_decay=1e-4), torch.optim.Adam(twin.parameters(), lr=3e-3,
                                                                                       weight_decay=1e-4)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    for _ in range(5):
        for model, opt in ((net, ours), (twin, theirs)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    code = ("import sys; from explorer import Session; Session.open('digits', 'cnn', device='cpu', epochs=1); "
            "assert 'torch._dynamo' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def _tiny_data():
    """12 random 1x8x8 images of 2 classes, seeded."""
    from explorer import from_arrays

    g = torch.Generator().manual_seed(0)
    return from_arrays(torch.rand(12, 1, 8, 8, generator=g), torch.arange(12) % 2, torch.rand(4, 1, 8, 8, generator=g),
                       torch.arange(4) % 2)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("settings, error, match", [
    ({"lr": NAN}, ValueError, "lr must be a finite number >= 0"),  # every weight NaN before
    ({"lr": INF}, ValueError, "lr must be a finite number >= 0"),
    ({"lr": -0.01}, ValueError, "lr must be a finite number >= 0"),
    ({"lr": "0.1"}, TypeError, "lr must be a number"),
    ({"lr": None}, TypeError, "lr must be a number"),
    ({"lr": 1e38}, ValueError, "lr=1e\\+38 overflows torch.float32"),  # a bare RuntimeError mid-step before
    ({"weight_decay": -1}, ValueError, "weight_decay must be a finite number >= 0"),
    ({"weight_decay": NAN}, ValueError, "weight_decay must be a finite number >= 0"),
    ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),  # ZeroDivisionError before
    ({"batch_size": -5}, ValueError, "batch_size must be an integer >= 1"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
    ({"batch_size": True}, TypeError, "batch_size must be an integer"),
    ({"epochs": -1}, ValueError, "epochs must be an integer >= 0"),
    ({"epochs": 2.5}, TypeError, "epochs must be an integer"),
    ({"epochs": NAN}, TypeError, "epochs must be an integer"),
    ({"epochs": "3"}, TypeError, "epochs must be an integer"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"epochs": 2, "checkpoint_epochs": [5]}, ValueError, "checkpoint_epochs has epoch 5 but training runs 2"),
    ({"checkpoint_epochs": [-1]}, ValueError, "each of checkpoint_epochs must be an integer >= 0"),
    ({"checkpoint_epochs": 3}, TypeError, "checkpoint_epochs must be None or a list"),
    ({"progress": "yes"}, TypeError, "progress must be None, True or a callable"),
])
def test_bad_training_settings_raise_before_any_weight_changes(tiny_cnn, unchanged, settings, error, match):
    tiny_cnn.train()
    with unchanged(tiny_cnn), pytest.raises(error, match=match):
        train(tiny_cnn, _tiny_data(), **{"epochs": 1, **settings})


def test_no_trainable_parameters(tiny_cnn):
    tiny_cnn.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):  # trained nothing, silently, before
        train(tiny_cnn, _tiny_data(), epochs=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -1e-3}, "lr must be a finite number >= 0"), ({"lr": NAN}, "lr must be a finite"),
    ({"lr": INF}, "lr must be a finite"), ({"eps": -1e-8}, "eps must be a finite number >= 0"),
    ({"weight_decay": -0.1}, "weight_decay must be"), ({"weight_decay": INF}, "weight_decay must be"),
    ({"betas": (1.0, 0.999)}, "betas\\[0\\] must be in \\[0, 1\\)"), ({"betas": (0.9, -0.1)}, "betas\\[1\\] must be"),
    ({"betas": (0.9, NAN)}, "betas\\[1\\] must be"), ({"betas": (0.9,)}, "betas must be a pair"),
])
def test_our_adam_refuses_what_torch_adam_refuses_and_non_finite(kwargs, match):
    from explorer.optim import Adam

    p = nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match=match):
        Adam([p], **kwargs)
    if kwargs not in ({"lr": INF}, {"weight_decay": INF}, {"betas": (0.9,)}):  # torch accepts two, IndexError on one
        with pytest.raises(ValueError):
            torch.optim.Adam([p], **kwargs)


class FaultAt(nn.Module):
    """A small BatchNorm MLP whose `fault` turns the loss ('loss') or only the gradients ('grad') NaN at one call."""

    def __init__(self, call: int, fault: str):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        self.call, self.fault, self.calls = call, fault, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls == self.call and self.fault == "loss":
                out = out * float("nan")
            elif self.calls == self.call:  # sqrt's gradient at 0 is inf; times 0, NaN: the loss stays finite
                w = self.net[1].weight
                out = out + 0 * torch.sqrt(w - w.detach()).sum()
        return out


@pytest.mark.parametrize("fault, what", [("loss", "the loss became nan"), ("grad", "a gradient became")])
def test_non_finite_loss_puts_back_the_weights_before_the_step_that_produced_it(fault, what):
    from explorer.train import TrainingDiverged

    data = _tiny_data()  # 12 images, batch_size 4: 3 steps per epoch; call 5 is epoch 2, step 2
    model = FaultAt(5, fault)
    after = {}
    with _no_warning():
        with pytest.raises(TrainingDiverged, match=f"epoch 2, step 2 of 3: {what}") as err:
            train(model, data, epochs=3, batch_size=4, progress=lambda d, t, i: after.setdefault(
                d, [p.detach().clone() for p in model.parameters()]))
    # the step that produced the weights of call 5 is step 4 (epoch 2, step 1): its inputs are back
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), after[3]))
    assert all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())
    assert err.value.history.epochs == [1] and (err.value.epoch, err.value.step) == (2, 2)
    assert model.training and all(p.grad is None for p in model.parameters())


def _no_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def block():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    return block()


def test_diverging_default_cnn_warns_or_stops_with_finite_weights(digits, unchanged):
    from explorer.train import DivergenceWarning, TrainingDiverged

    model = build_model("cnn", digits, seed=0)
    with pytest.warns(DivergenceWarning, match="epoch 1, step \\d+ of 22 .*lr=1e\\+06 is likely too large"):
        train(model, digits, epochs=1, lr=1e6)  # loss 1e28, accuracy 10%, silently before
    assert all(torch.isfinite(p).all() for p in model.parameters())
    model = build_model("cnn", digits, seed=0)
    with unchanged(model), pytest.raises(TrainingDiverged, match="epoch 1, step 2 of 22: the loss became nan"):
        train(model, digits, epochs=1, lr=1e20)  # every weight NaN before; step 1 produced it: the start is back


def test_session_keeps_the_epochs_done_when_training_diverges(digits):
    from explorer import Session
    from explorer.train import TrainingDiverged

    s = Session(FaultAt(5, "loss"), _tiny_data())
    with pytest.raises(TrainingDiverged):
        s.train(epochs=3, batch_size=4)
    assert s.history.epochs == [1] and [e for e, _ in s.history.checkpoints] == [0, 1]
