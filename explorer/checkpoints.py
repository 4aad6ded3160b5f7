"""Checkpoints: a model's state dict and plain metadata in torch's zip format, saved and loaded safely."""
from __future__ import annotations

import os
import zipfile

import torch
from torch import nn


def save_checkpoint(model: nn.Module, path, **meta) -> None:
    """Save the state dict (on the CPU) and plain metadata to `path`."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, path)


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
