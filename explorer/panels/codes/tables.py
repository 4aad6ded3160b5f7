"""The categorization view: K-Means, logistic regression and k-NN on codes, and the same over training (jobs)."""
from __future__ import annotations

import ipywidgets as W

from ...codes import lab
from ...table import Table
from .._common import guarded
from .._jobbar import JobBar
from .._view import View


class TablesView(View):
    """Tables of tens of seconds, run off the kernel's thread on a copy of the model; a new choice clears them and a
    table for an old choice is never drawn (it is kept: going back shows it at once)."""

    again = "press the table's button"
    acts = {"categorize": "table", "over_training": "table"}  # one table at a time (a restored tour draws it again)

    def __init__(self, state, error):
        auto = W.Layout(width="auto")  # the default width cuts the labels
        self.more = W.Button(description="K-Means and LR table", layout=auto,
                             tooltip="slow: K-Means and logistic regression")
        self.history_button = W.Button(description="over training", layout=W.Layout(width="auto"),
                                       tooltip="redundancy and k-NN per checkpoint")
        self.categorization = W.HTML()
        self.tables_: dict[str, list] = {}
        bar = JobBar("tables")
        self.more.on_click(self.categorize)
        self.history_button.on_click(self.over_training)
        state.observe_codes(self.clear)
        state.observe(self._offer_history, names="epochs")
        super().__init__(state, error, [W.HBox([self.more, self.history_button]), bar, self.categorization], bar)
        self._offer_history()

    def _offer_history(self, change=None) -> None:
        self.history_button.layout.display = "flex" if self.state.epochs else "none"

    def clear(self, change=None) -> None:
        """Another choice: the shown table is of other codes."""
        self.categorization.value = ""
        self.forget()

    @guarded
    def categorize(self, button=None) -> None:
        """k-NN, logistic regression and K-Means on codes, pixels and activations."""
        self.submit(lab.categorization_job(self.session_now(), self.state.layers()), self._show_categorization,
                    act="categorize")

    def _show_categorization(self, rows) -> None:
        self.tables_["categorization"] = rows
        data = self.session.data
        on = "; ".join(data.describe_sample(s, lab.METRICS_MAX) for s in lab.SPLITS)
        self.categorization.value = (f"On {on}. K-Means: <i>purity</i> is the paper's 'accuracy'; <i>Hungarian</i> "
                                     "matches clusters to labels one to one" + Table(rows).to_html())

    @guarded
    def over_training(self, button=None) -> None:
        """Redundancy and k-NN accuracy at every checkpoint, on a copy of the model (of the user's session: its
        training's checkpoints, whatever the epoch slider shows)."""
        radius = self.state.radius
        self.submit(lab.over_training_job(self.session, self.state.layers(), radius=radius),
                    lambda rows: self._show_over_training(rows, radius), session=self.session,
                    act="over_training")

    def _show_over_training(self, rows, radius) -> None:
        self.tables_["over-training"] = rows
        self.categorization.value = (f"Over training (local complexity at radius {radius:.3g}, 256 inputs per "
                                     "split)" + Table(rows).to_html())
