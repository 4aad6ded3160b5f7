"""The codes lab's shared choice: which layers, which split, which point of training (a copy of the model)."""
from __future__ import annotations

import copy

import ipywidgets as W

from ...capture import relu_layers
from ...codes import lab

ALL = "all"  # the layer menu's value for every ReLU-like layer (None would read as "nothing selected")


class Choice(W.VBox):
    """Layer, split and epoch menus; view() is the session they name, layers() the core's layer argument."""

    def __init__(self, session):
        self.session = session
        first = lab.default_layers(session)  # all of them, unless that code is too long (a ResNet's)
        self.layer = W.Dropdown(options=[("all ReLU layers", ALL)] + [(n, n) for n in relu_layers(session.model)],
                                value=ALL if first is None else first, description="layers")
        self.split = W.ToggleButtons(options=list(session.data.x), value="test", description="split",
                                     style={"button_width": "64px"})
        epochs = [e for e, _ in session.history.checkpoints]
        self.epoch = W.SelectionSlider(options=[("now", -1)] + [(str(e), i) for i, e in enumerate(epochs)],
                                       value=-1, description="epoch", continuous_update=False,
                                       layout=W.Layout(display="flex" if epochs else "none"))
        self._sessions: dict = {}
        super().__init__([W.HBox([self.layer, self.split]), self.epoch])

    def layers(self):
        """The chosen ReLU layer's name, or None for all of them (the core's default)."""
        return None if self.layer.value == ALL else self.layer.value

    def view(self):
        """The session being looked at: the user's, or a copy of the model at the chosen checkpoint."""
        i = self.epoch.value
        if i < 0:
            return self.session
        key = (id(self.session.history), i)  # a new training run brings new checkpoints
        if key not in self._sessions:
            from ...session import Session

            model = copy.deepcopy(self.session.model)  # never load a checkpoint into the user's model
            model.load_state_dict(self.session.history.checkpoints[i][1])
            self._sessions[key] = Session(model, self.session.data)
            while len(self._sessions) > 3:  # a few copies kept (their memos too): memory stays bounded
                self._sessions.pop(next(iter(self._sessions)))
        return self._sessions[key]

    def observe_all(self, fn) -> None:
        """fn(change) on any change of layer, split or epoch."""
        for w in (self.layer, self.split, self.epoch):
            w.observe(fn, names="value")
