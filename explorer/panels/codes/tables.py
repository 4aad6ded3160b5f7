"""The categorization view: K-Means, logistic regression and k-NN on codes, and the same over training (jobs)."""
from __future__ import annotations

import ipywidgets as W

from ...codes import lab
from ...table import Table
from .._common import guarded
from .._runner import JobBar, Runner


class TablesView(W.VBox):
    """Tables of tens of seconds, run off the kernel's thread (codes computed here first); a new choice clears them
    and a table for an old choice is never drawn (it is kept: going back shows it at once)."""

    def __init__(self, choice, error, radius):
        self.choice, self.error, self.radius = choice, error, radius
        session = choice.session
        self.more = W.Button(description="K-Means and LR table", tooltip="slow: K-Means and logistic regression")
        self.history_button = W.Button(description="over training", tooltip="redundancy and k-NN per checkpoint",
                                       layout=W.Layout(display="flex" if session.history.checkpoints else "none"))
        self.table_progress = JobBar("tables")
        self.categorization = W.HTML()
        self.tables_: dict[str, list] = {}
        self.runner = Runner(session, self.table_progress)
        self.more.on_click(self.categorize)
        self.history_button.on_click(self.over_training)
        choice.observe_all(self.clear)
        super().__init__([W.HBox([self.more, self.history_button]), self.table_progress, self.categorization])

    def clear(self, change=None) -> None:
        """Another choice: the shown table is of other codes."""
        self.categorization.value = ""
        self.runner.supersede()

    @guarded
    def categorize(self, button=None) -> None:
        """k-NN, logistic regression and K-Means on codes, pixels and activations."""
        self.runner.submit(lab.categorization_job(self.choice.view(), self.choice.layers()), self._show_categorization,
                           self.error.show)

    @guarded
    def _show_categorization(self, rows) -> None:
        self.tables_["categorization"] = rows
        data = self.choice.session.data
        on = "; ".join(data.describe_sample(s, lab.METRICS_MAX) for s in lab.SPLITS)
        self.categorization.value = (f"On {on}. K-Means: <i>purity</i> is the paper's 'accuracy'; <i>Hungarian</i> "
                                     "matches clusters to labels one to one" + Table(rows).to_html())

    @guarded
    def over_training(self, button=None) -> None:
        """Redundancy and k-NN accuracy at every checkpoint, on a copy of the model."""
        radius = self.radius.value
        self.runner.submit(lab.over_training_job(self.choice.session, self.choice.layers(), radius=radius),
                           lambda rows: self._show_over_training(rows, radius), self.error.show)

    @guarded
    def _show_over_training(self, rows, radius) -> None:
        self.tables_["over-training"] = rows
        self.categorization.value = (f"Over training (local complexity at radius {radius:.3g}, 256 inputs per "
                                     "split)" + Table(rows).to_html())
