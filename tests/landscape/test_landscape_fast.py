"""The exact fast slice path equals the eager reference; available memory; estimate() before a slice."""
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from explorer import device as hw
from explorer.landscape import estimate, random_direction, random_plane, slice_grid, slices
from explorer.landscape import functional as fn
from explorer.models import MLP, SmallCNN


def bn_cnn():
    """conv -> BN -> ReLU -> conv -> BN -> ReLU -> pool -> fc, with non-trivial running statistics."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 6, 3, padding=1, bias=False)), ("bn2", nn.BatchNorm2d(6)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(6, 3))]))
    with torch.no_grad():
        model.train()
        model(torch.randn(64, 1, 8, 8) * 2 + 0.5)
    return model.eval()


class Scaled(nn.Module):
    """A parameter acts on the input before the first layer: the first layer's input is not constant."""

    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(1.5))
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(x.flatten(1) * self.s)


MODELS = {"mlp": lambda: (torch.manual_seed(0), MLP((1, 8, 8), 16, 2, 3))[1].eval(),
          "small_cnn": lambda: (torch.manual_seed(0), SmallCNN(1, 3, width=4))[1].eval(), "bn_cnn": bn_cnn}


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(40, 1, 8, 8, generator=gen), torch.randint(0, 3, (40,), generator=gen)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("one_d", ["zero", "scaled"])  # 'scaled' moves the biases too: the sum covers them
def test_fast_equals_eager(name, one_d, batch, unchanged):
    model, (x, y) = MODELS[name](), batch
    d1, d2 = random_plane(model, one_d=one_d, seed=4)
    with unchanged(model):
        eager = slice_grid(model, x, y, d1, d2, span=1.0, n=5, preview=3, backend="eager")
        quick = slice_grid(model, x, y, d1, d2, span=1.0, n=5, preview=3, backend="fast")
        auto = slice_grid(model, x, y, d1, d2, span=1.0, n=5, preview=3)  # the CPU default is the fast path
        line = slice_grid(model, x, y, d1, span=1.0, n=5, backend="fast")
        line_ref = slice_grid(model, x, y, d1, span=1.0, n=5, backend="eager")
    assert eager.path == "eager" and quick.path.startswith("fast: first layer") and auto.path == quick.path
    assert ("BatchNorm folded into conv2" in quick.path) == (name == "bn_cnn")  # bn1 follows the first layer
    np.testing.assert_allclose(quick.loss, eager.loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(quick.accuracy, eager.accuracy)
    np.testing.assert_array_equal(auto.loss, quick.loss)
    np.testing.assert_allclose(line.loss, line_ref.loss, rtol=1e-5, atol=1e-6)
    assert quick.origin()[0] == pytest.approx(eager.origin()[0], rel=1e-6)


def test_fast_path_not_taken_where_not_exact(batch, unchanged):
    x, y = batch
    model = Scaled().eval()
    d1, d2 = random_plane(model, one_d="scaled", seed=0)
    with unchanged(model):
        s = slice_grid(model, x, y, d1, d2, span=1.0, n=3, backend="fast")
        ref = slice_grid(model, x, y, d1, d2, span=1.0, n=3, backend="eager")
    assert s.path.startswith("eager: the fast path's check") and np.array_equal(s.loss, ref.loss)
    bn = bn_cnn()  # recomputed BatchNorm statistics: a train-mode pass per point, never the fast path
    bn_x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert slice_grid(bn, x, y, *random_plane(bn), n=3, bn="recompute", bn_x=bn_x).path == "eager"
    with pytest.raises(ValueError, match="needs bn='keep'"):
        slice_grid(bn, x, y, *random_plane(bn), n=3, bn="recompute", bn_x=bn_x, backend="fast")


def test_fast_path_nan_and_memory_budget(tiny_cnn, batch, monkeypatch):
    x, y = batch
    d = {k: torch.full_like(v, 1e38) for k, v in random_direction(tiny_cnn, one_d="scaled").items()}
    s = slice_grid(tiny_cnn, x, y, d, span=1.0, n=5, backend="fast")
    assert s.path.startswith("fast") and np.isnan(s.loss[3:]).all() and np.isfinite(s.loss[2])
    for module in (fn, slices):  # the point fits, the three terms do not
        monkeypatch.setattr(module, "free_bytes", lambda device: 400_000)
    s = slice_grid(tiny_cnn, x, y, random_direction(tiny_cnn), span=1.0, n=3)
    assert s.path.startswith("eager: the first layer's outputs would take")


def test_memory_check_reads_available_not_free(tiny_cnn, batch, monkeypatch, tmp_path):
    """Issue 12: 18 GiB available, 205 MiB of free pages: a 260 MiB point must be allowed."""
    x, y = batch
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:          209920 kB\nMemAvailable:   18874368 kB\n")
    real = hw.os.sysconf
    pages = {"SC_AVPHYS_PAGES": 205 * 2**20 // 4096, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(hw.os, "sysconf", lambda k: pages[k] if k in pages else real(k))
    monkeypatch.setattr(hw, "MEMINFO", str(meminfo))
    monkeypatch.setattr(hw, "address_space_room", lambda status=None: None)  # no RLIMIT_AS or cgroup limit here
    monkeypatch.setattr(hw, "cgroup_room", lambda root=None, proc=None: None)
    monkeypatch.setitem(sys.modules, "psutil", None)  # no psutil: /proc/meminfo's MemAvailable
    assert hw.free_bytes(torch.device("cpu")) == 18 * 2**30
    monkeypatch.setattr(fn, "activation_bytes", lambda model, x: 260 * 2**20 // len(x))
    assert fn.check_fits(tiny_cnn, x, 441) >= 260 * 2**20  # no MemoryError
    psutil = type(sys)("psutil")  # with psutil: its `available`
    psutil.virtual_memory = lambda: type("vm", (), {"available": 17 * 2**30})()
    monkeypatch.setitem(sys.modules, "psutil", psutil)
    assert hw.free_bytes(torch.device("cpu")) == 17 * 2**30
    monkeypatch.setattr(fn, "activation_bytes", lambda model, x: 20 * 2**30 // len(x))
    with pytest.raises(MemoryError, match="MiB are available"):
        fn.check_fits(tiny_cnn, x, 441)


def test_estimate_before_a_slice(tiny_cnn, batch, unchanged):
    x, y = batch
    with unchanged(tiny_cnn):
        e = estimate(tiny_cnn, x, y, n=21)
        line = estimate(tiny_cnn, x, y, n=7, two_d=False)
    assert e["points"] == 441 and line["points"] == 7 and e["backend"] == "fast"
    # the fast path's set-up (one forward of the inputs) and then each point
    assert e["seconds"] == pytest.approx(e["setup_seconds"] + 441 * e["seconds_per_point"])
    assert e["seconds_per_point"] > 0 and e["setup_seconds"] > 0
    assert 0 < e["bytes_per_point"] <= e["bytes_available"] and e["fits"]
    with pytest.raises(ValueError, match="odd"):
        estimate(tiny_cnn, x, y, n=20)
