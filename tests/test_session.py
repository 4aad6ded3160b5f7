"""Session: device from one place, memo keyed by inputs and by the state of the weights."""
import pytest
import torch

from explorer import Session, pick_device
from explorer.device import model_device


def test_pick_device(monkeypatch):
    monkeypatch.delenv("EXPLORER_DEVICE", raising=False)
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert pick_device().type == "cuda"
    monkeypatch.setenv("EXPLORER_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="auto, cuda, mps, cpu"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")


def test_memo_computes_once_and_follows_the_weights(digits):
    s = Session.open(digits, "mlp", device="cpu", width=8)
    assert model_device(s.model) == s.device == torch.device("cpu")
    calls = []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert s.memo(("x", 1), compute) == 1 and s.memo(("x", 1), compute) == 1
    assert s.memo(("x", 2), compute) == 2
    acc0 = s.evaluate().accuracy
    assert s.evaluate() is s.evaluate()
    s.train(epochs=1)  # optimiser steps change the weights in place: old results must not be served
    assert s.memo(("x", 1), compute) == 3
    assert s.evaluate().accuracy != acc0
    with torch.no_grad():
        s.model.out.bias.add_(1.0)  # a change made by hand is seen too
    assert s.memo(("x", 1), compute) == 4


def test_memo_is_bounded(digits):
    s = Session.open(digits, "mlp", device="cpu", width=4)
    s.memo_size = 3
    for i in range(10):
        s.memo(("k", i), lambda i=i: i)
    assert len(s._memo) == 3


def test_open_errors_name_choices():
    with pytest.raises(KeyError, match="choose one of digits"):
        Session.open("imagenet")
    with pytest.raises(KeyError, match="choose 'cnn', 'mlp'"):
        Session.open("digits", "transformer9000")


def test_a_model_that_does_not_fit_the_data_is_a_clear_error(digits):
    from torch import nn

    rgb = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    with pytest.raises(ValueError, match=r"does not accept 'digits' images of shape \(1, 8, 8\)"):
        Session.open(digits, rgb)
    with pytest.raises(ValueError, match=r"logits of shape \(N, 10\).*\(2, 3\)"):
        Session.open(digits, nn.Sequential(nn.Flatten(), nn.Linear(64, 3)))
