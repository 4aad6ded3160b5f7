"""The playground's view: data, network and training controls, and the exact regions redrawn as the net trains."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from ... import playground as core
from .._common import guarded
from .._jobbar import JobBar
from .._throttle import Latest
from .._view import LabState, View
from ..landscape.figures import view
from .figures import RegionPlot

OWN = "your points"
GAP = 0.25  # seconds between redraws while training at least, and one more per 2,000 regions (about 300 kB a second)


class PlaygroundState(LabState):
    """The playground's session now: a new one (sharing the executor) for each data set or network."""

    def __init__(self, session):
        super().__init__(session)
        self.current = session

    def session_now(self):
        return self.current


def _menu(options, value, description, width="210px"):
    return W.Dropdown(options=options, value=value, description=description, layout=W.Layout(width=width),
                      style={"description_width": "initial"})  # 'weight decay', not 'weight de...'


class PlaygroundView(View):
    """Pick the points and the network, press train: the exact regions, the decision map and the boundary are
    redrawn every few steps while it trains (the snapshots stream from the job)."""

    cheap = True  # a model changed elsewhere (a cell) is drawn again at once

    def __init__(self, state, error, own=None, seed: int = 0):
        self.own, self.note = own, ""  # the user's Points (or None); the last training's test accuracy
        self.steps_, self.points_ = 0, None  # steps this network has trained; points to draw with the next snapshot
        self.training_ = False  # this view's training runs: the weights it commits are its last snapshot's
        self.latest = Latest(self, self.draw, lambda snap: max(GAP, snap.regions.count / 2000))  # partial draws
        self.data = _menu([*core.TOYS, *([OWN] if own is not None else [])], OWN if own is not None else "moons",
                          "data")
        self.noise = W.FloatSlider(value=0.1, min=0.0, max=0.5, step=0.05, description="noise",
                                   continuous_update=False)
        self.width = W.IntSlider(value=16, min=1, max=32, description="width", continuous_update=False)
        self.depth = W.IntSlider(value=2, min=1, max=4, description="depth", continuous_update=False)
        self.activation = W.ToggleButtons(options=list(core.ACTIVATIONS), value="relu", description="activation",
                                          style={"button_width": "90px"})
        self.dropout = _menu([0.0, 0.1, 0.2, 0.5], 0.0, "dropout")
        self.decay = _menu([0.0, 1e-4, 1e-3, 1e-2, 1e-1], 0.0, "weight decay")
        self.lr = _menu([0.003, 0.01, 0.03, 0.1], 0.01, "learning rate")
        self.epochs = W.IntSlider(value=50, min=1, max=300, description="epochs", continuous_update=False)
        self.every = _menu([1, 5, 10, 25, 50], 10, "draw every", "190px")
        self.seed = W.IntText(value=seed, description="seed", layout=W.Layout(width="150px"))
        self.train = W.Button(description="train", button_style="primary", icon="play")
        self.reset = W.Button(description="reset", icon="refresh", tooltip="fresh weights from the seed")
        self.progress = JobBar("training")
        self.summary = W.HTML()
        self.summary.add_class("explorer-playground-summary")
        self.plot = RegionPlot()
        for w in (self.data, self.noise, self.width, self.depth, self.activation, self.dropout, self.seed):
            w.observe(self.rebuild, names="value")
        self.train.on_click(self.start)
        self.reset.on_click(self.rebuild)
        controls = W.VBox([W.HBox([self.data, self.noise]), W.HBox([self.width, self.depth]),
                           W.HBox([self.activation, self.dropout]), W.HBox([self.decay, self.lr]),
                           W.HBox([self.epochs, self.every]), W.HBox([self.train, self.reset, self.seed])])
        super().__init__(state, error, [W.HBox([W.VBox([controls, self.summary]), view(self.plot.figure)]),
                                        self.progress], self.progress)
        self.rebuild()

    def points(self) -> core.Points:
        """The points chosen now."""
        if self.data.value == OWN:
            return self.own
        return core.toy(self.data.value, 200, float(self.noise.value), seed=0)

    @guarded
    def rebuild(self, _=None) -> None:
        """A new session on the chosen points and a fresh network from the seed (a running training stops)."""
        self.forget()
        self.latest.drop()
        self.note, self.steps_, self.training_ = "", 0, False
        s = core.playground(self.points(), int(self.width.value), int(self.depth.value), self.activation.value,
                            float(self.dropout.value), int(self.seed.value), executor=self.session.jobs())
        s.watch(self.weights_changed)
        self.state.current = s
        x, y = core.all_points(s)
        self.points_ = (x, y, np.arange(len(x)) >= len(s.data.labels("train")), s.data.n_classes)  # drawn with the
        self.recompute()  # first snapshot: a source set before the figure is on the page never reaches it

    @guarded
    def recompute(self, _=None) -> None:
        """The regions of the network as it is now."""
        self.submit(core.snapshot_job(self.session_now()), self.draw)

    @guarded
    def start(self, _=None) -> None:
        """Train on from the current weights; every `draw every` steps the regions are drawn again."""
        s, self.note = self.session_now(), ""
        job = core.train_job(s, int(self.epochs.value), int(self.every.value), float(self.lr.value), 16,
                             float(self.decay.value), int(self.seed.value))
        self.training_ = True
        self.submit(job, lambda history: self.trained(s, len(history.epochs) * -(-len(s.data.labels("train")) // 16)),
                    partial=lambda snap: self.latest.put(self.ticket_, snap), failed=self.failed)

    def failed(self, err) -> None:
        """Training failed (diverged): say why; the weights it kept are drawn again."""
        self.training_ = False
        self.latest.drop()
        self.error.show(err)
        self.recompute()

    def weights_changed(self) -> None:
        """Weights committed by this view's own training are those of its last snapshot (drawn); any other change
        is drawn again at once."""
        if not self.training_:
            super().weights_changed()

    def trained(self, session, steps: int) -> None:
        """Training ended: the test accuracy beside the last snapshot's numbers."""
        self.drawn(session)
        last = self.latest.take() or self.snapshot_  # the final snapshot, even inside the gap
        self.steps_, self.training_ = self.steps_ + steps, False
        acc = session.evaluate("test").accuracy
        self.note = f"<br>after training: test accuracy <b class='explorer-playground-test'>{acc:.1%}</b>"
        self.draw(last)

    @guarded
    def draw(self, snap) -> None:
        """One snapshot: the map in place, and its numbers."""
        self.snapshot_ = snap
        self.plot.draw(snap, self.session_now().data.n_classes)
        if self.points_ is not None:
            self.plot.show_points(*self.points_)
            self.points_ = None
        step = f"step {snap.step} of {snap.total}" if snap.total else (
            f"after {self.steps_} steps" if self.steps_ else "untrained")
        loss = "" if np.isnan(snap.loss) else f", loss {snap.loss:.3f}"
        self.summary.value = (f"{step}: <b>{snap.regions.count} linear regions</b> (exact), {len(snap.boundary)} "
                              f"boundary segments{loss}, train accuracy {snap.accuracy:.1%}{self.note}")
