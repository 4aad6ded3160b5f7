"""Pass sizes from the CPU's cache: the sysfs sizes read right, the widest activation known by hand, the limit kept."""
import torch
from torch import nn

from explorer import device
from explorer.saliency import GradientSHAP, Occlusion, ScoreCAM
from explorer.saliency.methods import batching as B


def test_cache_bytes_reads_the_largest_sysfs_cache(tmp_path):
    for i, size in enumerate(["48K", "32K", "1024K", "32768K"]):
        (tmp_path / f"index{i}").mkdir()
        (tmp_path / f"index{i}" / "size").write_text(size + "\n")
    assert device.cache_bytes(tmp_path) == 32 * 2**20
    assert device.cache_bytes(tmp_path / "none") == device.FALLBACK_CACHE


def test_widest_activation_by_hand_and_no_hook_left():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8 * 8 * 8, 5))
    x = torch.randn(1, 3, 16, 16)
    assert B.widest_activation(net, x) == 8 * 16 * 16 * 4  # the conv's (and ReLU's) 8 x 16 x 16 floats
    assert all(not m._forward_hooks for m in net.modules())


def test_fitting_batch_keeps_the_widest_activation_in_cache(monkeypatch):
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten())
    x = torch.randn(1, 3, 16, 16)
    monkeypatch.setattr(B, "cache_bytes", lambda: 10 * 8 * 16 * 16 * 4 + 1)
    assert B.fitting_batch(net, x, 64) == 10
    assert B.fitting_batch(net, x, 4) == 4  # never above the method's batch_size
    monkeypatch.setattr(B, "cache_bytes", lambda: 1)
    assert B.fitting_batch(net, x, 64) == 1


def test_maps_do_not_depend_on_the_pass_size(monkeypatch, digits):
    """Score-CAM, occlusion and GradientSHAP: the same maps whatever the cache says (one image a pass, or all)."""
    from explorer import Session

    s = Session.open(digits, "cnn", epochs=1, seed=0, device="cpu")
    x = s.data.inputs("test")[:4]
    out = {}
    for cache in (1, 2**40):
        monkeypatch.setattr(B, "cache_bytes", lambda cache=cache: cache)
        out[cache] = (ScoreCAM("conv3")(s.model, x),
                      Occlusion(2, 1).attributions(s.model, x),
                      GradientSHAP(samples=3, stdev=0.1).attributions(s.model, x))
    for a, b in zip(out[1], out[2**40]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_folded_copy_folds_every_batchnorm_kind_and_fires_no_hook():
    from explorer.saliency.methods.fold import BATCHNORMS, folded

    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert folded(plain) is plain  # nothing to fold: the model itself
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    net.eval()
    calls = []
    handle = net[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        twin = folded(net)
        x = torch.randn(2, 3, 8, 8)
        assert not any(isinstance(m, BATCHNORMS) for m in twin.modules())
        torch.testing.assert_close(twin(x), net(x), rtol=1e-5, atol=1e-5)
        assert len(calls) == 1  # the original's forward only: the copy's hooks were dropped
    finally:
        handle.remove()
