"""Checkpoints: a failed save leaves the previous file whole; what loads is exactly what was saved, or a clear error."""
import os
import signal
import subprocess
import sys

import pytest
import torch

from explorer import load_checkpoint, save_checkpoint
from explorer.models import SmallCNN

LIMIT = 20_000  # bytes: the child's file-size limit; SmallCNN(width=16) saves to about 98 kB


def seeded_cnn(width: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return SmallCNN(width=width)


def save_under_a_size_limit(path, ignore_signal: bool) -> subprocess.CompletedProcess:
    """A child process saves a 98 kB model over path with RLIMIT_FSIZE = 20 kB (a disk that fills up midway)."""
    code = f"""
import resource, signal, sys, torch
from explorer import save_checkpoint
from explorer.models import SmallCNN
# Python ignores SIGXFSZ, so a write past the limit fails with EFBIG; the default action kills the process there
signal.signal(signal.SIGXFSZ, signal.SIG_IGN if {ignore_signal} else signal.SIG_DFL)
model = SmallCNN(width=16)
resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT}, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    save_checkpoint(model, {str(path)!r}, epoch=99)
except Exception as err:
    print("refused", type(err).__name__, err)
    sys.exit(0)
print("saved")
"""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("ignore_signal", [True, False], ids=["write-fails", "process-killed"])
def test_a_failed_save_leaves_the_old_checkpoint_whole(tmp_path, ignore_signal):
    """Issue 22.1: the save wrote over the target in place, so a full disk left a cut, unloadable checkpoint."""
    path = tmp_path / "model.pt"
    good = seeded_cnn(16, seed=1)
    save_checkpoint(good, path, epoch=3)
    before = path.read_bytes()
    out = save_under_a_size_limit(path, ignore_signal)
    assert out.returncode == (0 if ignore_signal else -signal.SIGXFSZ), out.stdout + out.stderr
    assert path.read_bytes() == before
    if ignore_signal:
        assert out.stdout.startswith("refused OSError") and "could not save the checkpoint" in out.stdout
        assert "is unchanged" in out.stdout
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # the partial temporary file is gone
    fresh = seeded_cnn(16, seed=2)
    assert load_checkpoint(fresh, path) == {"epoch": 3}
    for (name, a), b in zip(good.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_save_replaces_whole_files_and_keeps_links(tmp_path):
    small, big = seeded_cnn(4, 0), seeded_cnn(16, 0)
    real = tmp_path / "real.pt"
    save_checkpoint(big, real, epoch=1)
    save_checkpoint(small, real, epoch=2)  # a smaller file over a larger one: no stale tail
    assert load_checkpoint(seeded_cnn(4, 5), real) == {"epoch": 2}
    link = tmp_path / "latest.pt"
    link.symlink_to(real)
    save_checkpoint(small, link, epoch=3)
    assert link.is_symlink() and load_checkpoint(seeded_cnn(4, 5), real) == {"epoch": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt", "real.pt"]


def flip(blob: bytes, at: int, n: int) -> bytes:
    out = bytearray(blob)
    out[at:at + n] = bytes(b ^ 0xFF for b in out[at:at + n])
    return bytes(out)


def test_a_legacy_checkpoint_is_refused_so_damage_cannot_load(tmp_path, unchanged):
    """Issue 22.3: in the legacy (non-zip) format 200 flipped bytes loaded as other weights, without an error."""
    model = seeded_cnn(16, seed=1)
    path = tmp_path / "legacy.pt"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, path, _use_new_zipfile_serialization=False)
    blob = path.read_bytes()
    at = blob.find(model.conv3.weight.detach().numpy().tobytes()[:64])  # the stored bytes of conv3.weight
    assert at > 0
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(flip(blob, at + 1000, 200))
    other = seeded_cnn(16, seed=2)
    for bad in (damaged, path):
        with unchanged(other), pytest.raises(ValueError, match=r"damaged.pt|legacy.pt") as err:
            load_checkpoint(other, bad)
        assert "not a zip archive in torch.save's format" in str(err.value) and "save it again" in str(err.value)


@pytest.mark.parametrize("name,value", [("conv1.weight", float("nan")), ("fc.bias", float("inf")),
                                        ("conv2.bias", -float("inf"))])
def test_a_checkpoint_with_nan_or_inf_is_refused(tmp_path, unchanged, name, value):
    model = seeded_cnn(4, seed=1)
    with torch.no_grad():
        model.get_parameter(name).view(-1)[1] = value
    path = tmp_path / "diverged.pt"
    save_checkpoint(model, path, epoch=7)
    other = seeded_cnn(4, seed=2)
    with unchanged(other), pytest.raises(ValueError, match=rf"diverged.pt holds NaN or infinite values in {name}\b"):
        load_checkpoint(other, path)


def test_a_checkpoint_in_another_dtype_is_refused_not_cast(tmp_path, unchanged):
    model = seeded_cnn(4, seed=1)
    state = model.state_dict()
    path = tmp_path / "ints.pt"
    torch.save({"state_dict": {**state, "fc.weight": (state["fc.weight"] * 100).long()}, "meta": {}}, path)
    other = seeded_cnn(4, seed=2)
    with unchanged(other), pytest.raises(ValueError, match=r"ints.pt stores .*fc.weight is stored as torch.int64, "
                                                            r"the model's is torch.float32"):
        load_checkpoint(other, path)
    torch.save({"state_dict": {**state, "fc.weight": "0.1"}}, path)
    with unchanged(other), pytest.raises(ValueError, match=r"not tensors: \['fc.weight'\]"):
        load_checkpoint(other, path)


def test_checkpoints_in_file_objects(tmp_path):
    import io

    model, other = seeded_cnn(4, seed=1), seeded_cnn(4, seed=2)
    buffer = io.BytesIO()
    save_checkpoint(model, buffer, epoch=1)
    buffer.seek(0)
    assert load_checkpoint(other, buffer) == {"epoch": 1}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values(),
                                                 strict=True))
    legacy = io.BytesIO()
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    legacy.seek(0)
    with pytest.raises(ValueError, match="not a zip archive"):
        load_checkpoint(other, legacy)
