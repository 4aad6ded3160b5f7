"""Checkpoints: a model's state dict and plain metadata in torch's zip format, saved and loaded safely."""
from __future__ import annotations

import contextlib
import os
import uuid
import zipfile

import torch
from torch import nn


def save_checkpoint(model: nn.Module, path, **meta) -> None:
    """Save the state dict (on the CPU) and plain metadata to `path`, atomically: written whole to a temporary file
    in the same folder, flushed to the disk, then renamed over `path`; a save that fails midway (a full disk) leaves
    the previous checkpoint as it was. A file object is written to directly."""
    blob = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "meta": meta}
    if not isinstance(path, (str, os.PathLike)):
        torch.save(blob, path)
        return
    target = os.path.realpath(path)  # through a link: the file it points to is replaced, the link stays
    folder = os.path.dirname(target)
    tmp = os.path.join(folder, f".{os.path.basename(target)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to a plain open()
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blob, f)
            f.flush()
            os.fsync(f.fileno())  # on the disk before the rename makes it the checkpoint
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise OSError(err.errno, f"could not save the checkpoint to {path}: {err.strerror or err} (the file "
                                     f"that was there, if any, is unchanged)") from err
        raise
    with contextlib.suppress(OSError):  # the rename itself on the disk (POSIX; Windows cannot open a folder)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_checkpoint(model: nn.Module, path) -> dict:
    """Load weights saved by save_checkpoint (or a bare state dict) into model; returns the metadata.

    Uses torch.load(weights_only=True): a checkpoint cannot run code.
    """
    check_archive(path)  # torch.load does not check the zip CRCs: flipped bytes would load silently
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"{path} is not a weights-only checkpoint that explorer can read: {err}") from err
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    missing, unexpected = [], []
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad:
        raise ValueError(f"checkpoint {path} does not fit this model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shape {bad[:5]}")
    model.load_state_dict(state)
    return blob.get("meta", {}) if "state_dict" in blob else {}


def check_archive(path) -> None:
    """A clear ValueError if a torch.save zip archive is corrupt (a CRC mismatch: torch.load would not notice)."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path) or not zipfile.is_zipfile(path):
        return  # a missing file or a legacy (non-zip) checkpoint: torch.load reports those itself
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is a damaged checkpoint archive: {err}") from err
    if bad is not None:
        raise ValueError(f"{path} is corrupt: {bad!r} inside it fails its CRC check (a damaged copy or download)")
