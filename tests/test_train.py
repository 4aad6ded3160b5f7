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
