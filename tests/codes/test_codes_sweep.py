"""Phase-chart sweep: grid shapes, same results under any joblib backend, regime labels on constructed grids."""
import numpy as np
import pytest

from explorer.codes import REGIMES, regimes, sweep


def test_sweep_grid_and_backends(digits):
    kw = dict(widths=(2, 12), epochs=(0, 2), sizes=(60, 300), seed=0)
    a = sweep(digits, backend="sequential", **kw)
    b = sweep(digits, backend="threading", n_jobs=2, **kw)
    assert a["redundancy ratio"].shape == a["k-NN"].shape == (2, 2, 2)
    np.testing.assert_array_equal(a["redundancy ratio"], b["redundancy ratio"])
    np.testing.assert_array_equal(a["k-NN"], b["k-NN"])
    assert ((0 <= a["redundancy ratio"]) & (a["redundancy ratio"] <= 1)).all()
    # 2 ReLUs give at most 4 codes for 450 test images; 12 ReLUs after training give far more distinct codes
    assert a["redundancy ratio"][0, :, :].min() >= (450 - 4) / 450
    assert a["redundancy ratio"][1, 1, 1] < a["redundancy ratio"][0, 1, 1]
    with pytest.raises(ValueError, match="sample size"):
        sweep(digits, widths=(2,), epochs=(0,), sizes=(5,), backend="sequential")


def test_regimes_known_labels():
    rr = np.array([0.5, 0.0, 0.0, 0.02])
    acc = np.array([0.6, 0.80, 0.898, 0.9])
    assert regimes(rr, acc).tolist() == [REGIMES[0], REGIMES[1], REGIMES[2], REGIMES[0]]
    assert regimes(rr, acc, rr_max=0.05, acc_margin=0.001).tolist() == [REGIMES[0], REGIMES[1], REGIMES[1],
                                                                         REGIMES[2]]


def test_sweep_trains_on_one_torch_thread_and_restores_the_kernels(digits, monkeypatch):
    """In the kernel's process each training runs torch on one thread (a tiny MLP: threads only oversubscribe)."""
    import importlib

    import torch

    sweep_module = importlib.import_module("explorer.codes.sweep")  # the module: explorer.codes.sweep is the function

    seen = []

    def fake_run(data, width, n, epochs, *rest):
        seen.append(torch.get_num_threads())
        return [(0.0, 1.0)] * len(epochs)

    monkeypatch.setattr(sweep_module, "_run", fake_run)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grid = sweep(digits, widths=(2, 4), epochs=(0, 1), sizes=(60,), backend="sequential")
        assert seen == [1, 1] and torch.get_num_threads() == 2
        assert (grid["k-NN"] == 1.0).all()
    finally:
        torch.set_num_threads(before)


def test_each_task_sets_one_torch_thread_and_restores_the_workers(digits, monkeypatch):
    """A task on a worker whose torch has 2 threads trains on one and leaves the worker's count as it found it."""
    import importlib

    import torch

    sweep_module = importlib.import_module("explorer.codes.sweep")
    seen = []
    monkeypatch.setattr(sweep_module, "_run", lambda data, *job: seen.append(torch.get_num_threads()) or [(0.0, 1.0)])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert sweep_module._task(digits, (2, 60, (0,), 1, 0, 3e-3, 9)) == [(0.0, 1.0)]
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
