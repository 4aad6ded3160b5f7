"""The codes lab's choice controls: layers, split and the training-time slider, written to the lab's state."""
from __future__ import annotations

import ipywidgets as W

from ...capture import relu_layers
from ...codes import lab
from .state import ALL


class ChoiceView(W.VBox):
    """Layer, split and epoch menus bound to the state; the epoch slider follows the session's checkpoints."""

    def __init__(self, state):
        self.state = state
        first = lab.default_layers(state.session)  # all of them, unless that code is too long (a ResNet's)
        state.layer = ALL if first is None else first
        self.layer = W.Dropdown(options=[("all ReLU layers", ALL)] + [(n, n) for n in relu_layers(state.session.model)],
                                value=state.layer, description="layers")
        self.split = W.ToggleButtons(options=list(state.session.data.x), value=state.split, description="split",
                                     style={"button_width": "64px", "description_width": "initial"})
        self.epoch = W.SelectionSlider(options=[("now", -1)], value=-1, description="epoch", continuous_update=False,
                                       tooltip="the codes at a checkpoint of the training (a copy of the model)")
        self._following = False
        self.follow_history()
        W.link((self.layer, "value"), (state, "layer"))
        W.link((self.split, "value"), (state, "split"))
        self.epoch.observe(self._chosen, names="value")
        state.observe(self.follow_history, names=["epochs", "epoch"])
        super().__init__([W.HBox([self.layer, self.split]), self.epoch])

    def follow_history(self, change=None) -> None:
        """The slider's options are the session's checkpoints now (after a retraining too); hidden without any."""
        epochs = self.state.epochs
        options = [(str(e), i) for i, e in enumerate(epochs)] + [("now", -1)]  # time runs left to right
        self._following = True  # new options reset the slider to their first: not a choice of the user's
        try:
            if list(self.epoch.options) != options:
                self.epoch.options = options
            self.epoch.value = self.state.epoch
        finally:
            self._following = False
        self.epoch.layout.display = "flex" if epochs else "none"

    def _chosen(self, change) -> None:
        if not self._following:
            self.state.epoch = change.new
