"""A method's knobs as a form, built from what the method class declares (explorer.saliency.lab.knobs)."""
from __future__ import annotations

import ipywidgets as W

from ...saliency.lab import knobs
from .._common import replace_children


def knob_widget(name: str, spec: dict):
    """One control for one knob: a menu for choices, a slider for a number in its range."""
    label = spec.get("label", name.replace("_", " "))
    slow = dict(continuous_update=False, description=label, style={"description_width": "initial"})
    if "choices" in spec:
        return W.Dropdown(options=list(spec["choices"]), value=spec["default"], description=label)
    lo, hi, step = spec["range"]
    kind = W.IntSlider if isinstance(spec["default"], int) else W.FloatSlider
    return kind(value=spec["default"], min=lo, max=max(hi, spec["default"]), step=step, **slow)


class KnobForm(W.VBox):
    """The chosen method's own knobs; observe(fn) is told of every change; values() gives {knob: value}."""

    def __init__(self):
        super().__init__()
        self.widgets: dict = {}
        self._cls = None
        self._observers: list = []

    def show(self, cls) -> None:
        """The form for a method class: its knobs at their defaults (kept when the same class is shown again)."""
        if cls is self._cls:
            return
        self._cls = cls
        self.widgets = {name: knob_widget(name, spec) for name, spec in knobs(cls).items()}
        for w in self.widgets.values():
            for fn in self._observers:
                w.observe(fn, names="value")
        replace_children(self, list(self.widgets.values()))  # the old method's controls are closed

    def observe_values(self, fn) -> None:
        """Call fn(change) whenever a knob changes."""
        self._observers.append(fn)

    def values(self) -> dict:
        """{knob: value} of the form."""
        return {k: w.value for k, w in self.widgets.items()}
