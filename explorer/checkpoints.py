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

    Only an intact zip archive loads (check_archive), by torch.load(weights_only=True): a checkpoint cannot run
    code. Every tensor must fit the model's own in name, shape and dtype (nothing is cast) and be finite; otherwise
    a ValueError names the file and the tensor, and the model is unchanged.
    """
    check_archive(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"{path} is not a weights-only checkpoint that explorer can read: {err}") from err
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    own = model.state_dict()
    odd = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise ValueError(f"checkpoint {path} holds entries that are not tensors: {odd[:5]}")
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad:
        raise ValueError(f"checkpoint {path} does not fit this model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shape {bad[:5]}")
    cast = [f"{k} is stored as {state[k].dtype}, the model's is {own[k].dtype}" for k in own
            if state[k].dtype != own[k].dtype]
    if cast:
        raise ValueError(f"checkpoint {path} stores tensors in another dtype than the model's: {'; '.join(cast[:5])}. "
                         f"explorer does not cast weights silently: convert the model (e.g. model.double()) or the "
                         f"checkpoint to the dtype it was trained in")
    nonfinite = [k for k in own if (state[k].is_floating_point() or state[k].is_complex())
                 and not torch.isfinite(state[k]).all()]
    if nonfinite:
        raise ValueError(f"checkpoint {path} holds NaN or infinite values in {', '.join(nonfinite[:5])} (a training "
                         f"that diverged?): refused, the model is unchanged")
    model.load_state_dict(state)
    return blob.get("meta", {}) if "state_dict" in blob else {}


def check_archive(path) -> None:
    """A clear ValueError unless path (a file name or a binary file object) is an intact torch.save zip archive: a
    legacy (non-zip) checkpoint has no checksums, and torch.load does not check the zip's CRCs, so flipped bytes in
    either would load silently as other weights."""
    if isinstance(path, (str, os.PathLike)) and not os.path.isfile(path):
        return  # a missing file: torch.load's FileNotFoundError says so
    start = path.tell() if hasattr(path, "seek") else None
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path} is not a zip archive in torch.save's format (the default since torch 1.6): "
                             f"explorer loads only those, weights-only and checked, because a legacy checkpoint has "
                             f"no checksums and damaged bytes would load silently. Load it with torch.load where it "
                             f"was made and save it again with a current torch.save")
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise ValueError(f"{path} is a damaged checkpoint archive: {err}") from err
    finally:
        if start is not None:
            path.seek(start)
    if bad is not None:
        raise ValueError(f"{path} is corrupt: {bad!r} inside it fails its CRC check (a damaged copy or download)")
