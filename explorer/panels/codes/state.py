"""The codes lab's shared choices: which layers, which split, which point of training, the radius, the selection."""
from __future__ import annotations

import traitlets as T

from .._view import LabState

ALL = "all"  # the layer menu's value for every ReLU-like layer (None would read as "nothing selected")


class CodesState(LabState):
    """Layers, split and checkpoint name the codes every view shows; `points` are the split's indices drawn on the
    map (in the map's order) and `selection` the positions on the map picked by box or lasso."""

    layer = T.Unicode(ALL)
    split = T.Unicode("test")
    epoch = T.Int(-1)  # the index of a checkpoint of session.history, -1 for the model now
    epochs = T.Tuple()  # the history's epochs, one per checkpoint (the epoch slider's options)
    radius = T.Float(0.1)
    points = T.Any(None)  # np.ndarray of split indices on the drawn map, or None
    selection = T.Tuple()

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.read_history()
        session.watch(self.read_history)  # before any view: views see the new checkpoints when they are told

    def read_history(self) -> None:
        """The checkpoints of the session's training now; a chosen checkpoint that no longer exists goes to 'now'."""
        epochs = tuple(e for e, _ in self.session.history.checkpoints)
        if self.epoch >= len(epochs):
            self.epoch = -1
        self.epochs = epochs

    def layers(self):
        """The chosen ReLU layer's name, or None for all of them (the core's default)."""
        return None if self.layer == ALL else self.layer

    def session_now(self):
        """The user's session, or a session on a copy of the model at the chosen checkpoint."""
        return self.session if self.epoch < 0 else self.session.at(self.epoch)

    def observe_codes(self, fn) -> None:
        """fn(change) when the codes change: another layer, split or checkpoint."""
        self.observe(fn, names=["layer", "split", "epoch"])
