"""How a tour file names its data: a dataset by name and options, the arrays themselves, or only a name."""
from __future__ import annotations

import os

from ..data import ImageSet, load_dataset
from .plaindata import plain

SMALL = 64 * 2**20  # bytes: a dataset of your own in memory up to this size is saved in the file itself


def data_ref(data: ImageSet, opened: dict | None) -> dict:
    """How the file names the data: a dataset by name and its options (a folder is checked when opened), the
    arrays themselves when they are your own, small and in memory, or only their name (pass data= to open)."""
    if opened is not None:
        return {"kind": "named", **opened}
    nbytes = sum(t.numel() * t.element_size() for t in data.x.values())
    if data.transform is not None or nbytes > SMALL:
        why = "it has its own transform" if data.transform is not None else f"{nbytes / 2**20:.0f} MB in memory"
        return {"kind": "unsaved", "name": data.name, "why": why}
    return {"kind": "arrays", "name": data.name, "x": plain(data.x), "y": plain(data.y), "classes": list(data.classes),
            "mean": list(data.mean), "std": list(data.std), "masks": plain(data.masks), "shown": plain(data.shown)}


def named_data(ref: dict, path, given: ImageSet | None) -> ImageSet:
    """The data a tour file names (or the given data)."""
    if given is not None:
        return given
    if ref["kind"] == "arrays":
        return ImageSet(ref["name"], ref["x"], ref["y"], tuple(ref["classes"]), tuple(ref["mean"]), tuple(ref["std"]),
                        masks=ref["masks"], shown={k: v.numpy() for k, v in ref["shown"].items()})
    if ref["kind"] == "unsaved":
        raise ValueError(f"tour file {path} does not hold its data ({ref['name']!r}: {ref['why']}): open it with "
                         f"open_tour({str(path)!r}, data=...) and the same ImageSet")
    root = ref["options"].get("root")
    if root and not os.path.isdir(root):
        raise FileNotFoundError(f"tour file {path} reads {ref['dataset']!r} from the folder {root!r}, which is "
                                f"missing here: put the files back there, or pass data=... to open_tour")
    options = {k: (False if k == "download" else v) for k, v in ref["options"].items()}  # never downloads
    return load_dataset(ref["dataset"], **options)  # a named set's own seed (digits: its split) is its default
