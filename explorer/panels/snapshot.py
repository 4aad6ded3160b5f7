"""What a panel shows, as plain data: its choices (control values, lab state) and its results (plot sources, pictures,
texts), kept by position in the widget tree; choices set back on a panel of the same make; two snapshots compared.

Plain data is what torch.load(weights_only=True) reads: tensors, dicts, lists, strings, numbers, None."""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch

from ._jobbar import JobBar
from ._view import View
from .export import Export

OUTPUTS = (W.HTML, W.HTMLMath, W.Label, W.Image, W.IntProgress, W.FloatProgress, W.Valid, W.Password)
SKIPPED = (JobBar, Export)  # progress and time left, the save-to folder: not results, not choices
PLAIN = (str, int, float, bool, type(None))
RESULTS = ("rows", "drawn")  # lab-state traits that hold results (a ranking's rows, the drawn map's memo key): saved
# with the choices, never set back (the views compute them again)


def plain(value, strict: bool = False):
    """value as tensors, lists, dicts, strings and numbers (numpy arrays become tensors); an object that is none of
    those becomes its repr, or a TypeError when strict."""
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return torch.from_numpy(np.ascontiguousarray(value).copy())
        return [plain(v, strict) for v in value.tolist()]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, (list, tuple)):
        return [plain(v, strict) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, strict) for k, v in value.items()}
    if strict:
        raise TypeError(f"{type(value).__name__} is not plain data")
    return repr(value)


def walk(root, path=()):
    """(path, widget) of root and every widget below it in order, but the SKIPPED ones; path: child indices."""
    if isinstance(root, SKIPPED):
        return
    yield path, root
    if isinstance(root, W.Box):
        for i, child in enumerate(root.children):
            yield from walk(child, (*path, i))


def is_control(w) -> bool:
    """A widget whose value the user chooses (menus, sliders, boxes, text fields)."""
    return isinstance(w, W.ValueWidget) and not isinstance(w, OUTPUTS)


def _tensors(value) -> bool:
    """Whether plain data holds a tensor."""
    if isinstance(value, dict):
        return any(_tensors(v) for v in value.values())
    return isinstance(value, torch.Tensor) or isinstance(value, list) and any(map(_tensors, value))


def state_of(obj) -> dict:
    """The traits of a lab's state that are choices (strings, numbers and lists or dicts of them); arrays and
    tensors (a slice's directions, the points on a map) are results: computed from the choices again."""
    out = {}
    for name in sorted(obj.trait_names()):
        try:
            value = plain(getattr(obj, name), strict=True)
        except TypeError:
            continue
        if not _tensors(value):
            out[name] = value
    return out


def choices(root) -> dict:
    """{"controls": [{path, type, description, value}], "states": {path: traits}} of a panel."""
    controls, states = [], {}
    for path, w in walk(root):
        if is_control(w):
            try:
                value = plain(w.value, strict=True)
            except TypeError:
                continue
            controls.append({"path": list(path), "type": type(w).__name__, "description": w.description or "",
                             "value": value})
        state = getattr(w, "state", None)
        if isinstance(w, W.Box) and state is not None and hasattr(state, "trait_names") and not isinstance(w, View):
            states["/".join(map(str, path))] = state_of(state)
    return {"controls": controls, "states": states}


def at(root, path):
    """The widget at path below root, or None."""
    w = root
    for i in path:
        if not isinstance(w, W.Box) or i >= len(w.children):
            return None
        w = w.children[i]
    return w


def apply(root, saved: dict) -> list[str]:
    """Set a panel's state traits, then its controls, to saved choices (twice: a choice may change another's
    options); returns what could not be set."""
    problems = {}
    for where, traits in saved.get("states", {}).items():
        w = at(root, [int(i) for i in where.split("/") if i != ""])
        state = getattr(w, "state", None)
        for name, value in traits.items():
            if state is not None and state.has_trait(name) and name not in RESULTS:
                try:
                    setattr(state, name, tuple(value) if isinstance(getattr(state, name), tuple) else value)
                except Exception as err:  # noqa: BLE001 - reported to the caller with the trait's name
                    problems[f"state {name}"] = str(err)
    for _ in range(2):
        for c in saved.get("controls", []):
            w, name = at(root, c["path"]), f"{c['type']} {c['description']!r}".strip()
            if w is None or type(w).__name__ != c["type"] or (w.description or "") != c["description"]:
                problems[name] = "not found in this panel"
                continue
            value = tuple(c["value"]) if isinstance(w.value, tuple) else c["value"]
            try:
                if w.value != value:
                    w.value = value
                problems.pop(name, None)
            except Exception as err:  # noqa: BLE001 - reported to the caller with the control's name
                problems[name] = str(err)
    return [f"{k}: {v}" for k, v in problems.items()]


def sources(model) -> list[dict]:
    """The data of every ColumnDataSource in a bokeh model, in a fixed order (by columns, then content)."""
    from bokeh.models import ColumnDataSource

    out = [{k: plain(v) for k, v in sorted(s.data.items())} for s in model.select({"type": ColumnDataSource})]
    return sorted(out, key=lambda d: (sorted(d), repr({k: v.sum().item() if isinstance(v, torch.Tensor) else v
                                                        for k, v in d.items()})))


def shown(root) -> dict:
    """The results a panel shows now, by path: plot sources, pictures (PNG bytes as uint8 tensors), texts."""
    out = {}
    for path, w in walk(root):
        where = "/".join(map(str, path))
        if isinstance(w, W.Image) and len(w.value):
            out[where] = torch.frombuffer(bytearray(bytes(w.value)), dtype=torch.uint8)
        elif isinstance(w, (W.HTML, W.HTMLMath, W.Label)) and w.value:
            out[where] = w.value
        elif getattr(w, "_model", None) is not None and hasattr(w._model, "select"):  # jupyter_bokeh's BokehModel
            out[where] = sources(w._model)
    return out


def differences(a, b, where: str = "") -> list[str]:
    """Where two snapshots differ (exactly; NaN equals NaN)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.shape == b.shape and a.dtype == b.dtype and (
            torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(0.5), b.nan_to_num(0.5))
            if a.is_floating_point() else torch.equal(a, b))
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        return ([f"{where}/{k}" for k in a.keys() ^ b.keys()]
                + [d for k in a.keys() & b.keys() for d in differences(a[k], b[k], f"{where}/{k}")])
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [where]
