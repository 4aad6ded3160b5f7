"""What a panel shows, as plain data: its choices (control values, lab state) and its results (plot sources, pictures,
texts), kept by position in the widget tree; choices set back on a panel of the same make (plain values and the
comparison of two snapshots: plaindata)."""
from __future__ import annotations

import ipywidgets as W
import torch

from ._jobbar import JobBar
from ._view import View
from .export import Export
from .plaindata import plain, state_of

OUTPUTS = (W.HTML, W.HTMLMath, W.Label, W.Image, W.IntProgress, W.FloatProgress, W.Valid, W.Password)
SKIPPED = (JobBar, Export)  # progress and time left, the save-to folder: not results, not choices
RESULTS = ("rows", "drawn")  # lab-state traits that hold results (a ranking's rows, the drawn map's memo key): saved
# with the choices, never set back (the views compute them again)


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
