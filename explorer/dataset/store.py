"""A job's output folder: one Parquet table and .npy arrays per partition, and a JSON manifest naming the job (its
key) and the partitions that finished, written after each partition's files, so that a re-run resumes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
PREFIX = "part-"


def _pandas():
    """pandas with pyarrow (Parquet), or an ImportError saying what to install."""
    try:
        import pandas as pd
        import pyarrow  # noqa: F401 - the Parquet engine
    except ImportError as err:
        raise ImportError(f"whole-dataset jobs write Parquet tables with pandas and pyarrow ({err}): "
                          f"pip install 'explorer[scale]' (or pip install pandas pyarrow)") from err
    return pd


def part_name(i: int, what: str) -> str:
    """'part-00003.parquet' for the table, 'part-00003.maps.npy' for an array named 'maps'."""
    return f"{PREFIX}{i:05d}.parquet" if what == "table" else f"{PREFIX}{i:05d}.{what}.npy"


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)  # atomic: a kernel killed here leaves the old manifest or the new one, never half


def read_manifest(out) -> dict | None:
    """The folder's manifest, or None where there is none."""
    path = Path(out) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def open_folder(out, key: str, spec: dict, overwrite: bool = False) -> dict:
    """The manifest to continue: the folder's own when it was written for `key` (its finished partitions are kept),
    else a new one. A folder holding other files or another job's manifest is refused unless overwrite=True, which
    removes the earlier job's files (part-*, the manifest) and writes beside the rest."""
    _pandas()  # before any task runs: a missing pyarrow would lose the first result
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    old = read_manifest(out)
    if old is not None and old.get("key") == key and not overwrite:
        done = [i for i in old["done"] if all((out / part_name(i, w)).is_file() for w in old["files"])]
        return {**old, "done": done}
    others = sorted(p.name for p in out.iterdir() if not p.name.endswith(".tmp"))
    if others and not overwrite:
        listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        what = (f"the manifest of another job ({old.get('kind')}, key {old.get('key', '?')[:12]}...)"
                if old is not None else f"{len(others)} other files ({listed})")
        raise FileExistsError(f"output folder {out} holds {what}; choose an empty or new folder, the same job to "
                              f"resume it, or pass overwrite=True to replace its results")
    for p in out.iterdir():
        if p.name == MANIFEST or p.name.startswith(PREFIX):
            p.unlink()
    manifest = {**spec, "key": key, "done": []}
    _write_json(out / MANIFEST, manifest)
    return manifest


def write_part(out, manifest: dict, i: int, table: dict, arrays: dict) -> None:
    """Partition i's table (Parquet) and arrays (.npy), each through a temporary file, then the manifest."""
    pd = _pandas()
    out = Path(out)
    for what, arr in {"table": None, **arrays}.items():
        path = out / part_name(i, what)
        tmp = path.with_name(path.name + ".tmp")
        if what == "table":
            pd.DataFrame(table).to_parquet(tmp, index=False)
        else:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(arr))
        os.replace(tmp, path)
    manifest["done"] = sorted(set(manifest["done"]) | {i})
    _write_json(out / MANIFEST, manifest)


def load(out, partial: bool = False):
    """(DataFrame, {name: array}) of a job's folder, partitions in order; an unfinished job is an error naming the
    missing partitions unless partial=True (then only the finished ones)."""
    pd = _pandas()
    out = Path(out)
    manifest = read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"{out} holds no job manifest ({MANIFEST}): not a whole-dataset job's folder")
    n = len(manifest["partitions"])
    missing = sorted(set(range(n)) - set(manifest["done"]))
    if missing and not partial:
        raise ValueError(f"the job in {out} is unfinished: partitions {missing[:10]}{' ...' * (len(missing) > 10)} "
                         f"of {n} are missing; run it again with the same inputs to finish it, or load(partial=True)")
    parts = sorted(manifest["done"])
    if not parts:
        return pd.DataFrame(), {}
    table = pd.concat([pd.read_parquet(out / part_name(i, "table")) for i in parts], ignore_index=True)
    arrays = {w: np.concatenate([np.load(out / part_name(i, w)) for i in parts])
              for w in manifest["files"] if w != "table"}
    return table, arrays
