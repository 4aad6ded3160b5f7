"""The local complexity view (Humayun et al. 2024): units whose sign changes within a radius of each input."""
from __future__ import annotations

import ipywidgets as W

from ...codes import lab
from ...table import Table
from .._common import guarded
from .._runner import JobBar, Runner


class ComplexityView(W.VBox):
    """Mean local complexity per layer, train and test, at the chosen radius (a job on a copy of the model)."""

    def __init__(self, choice, error):
        self.choice, self.error = choice, error
        self.lc_button = W.Button(description="local complexity", tooltip="units whose sign changes within radius r")
        self.radius = W.FloatLogSlider(value=0.1, base=10, min=-3, max=1, description="radius r",
                                       continuous_update=False)
        self.lc_progress = JobBar("local complexity")
        self.lc = W.HTML()
        self.tables_: dict[str, list] = {}
        self.runner = Runner(choice.session, self.lc_progress)
        self.lc_button.on_click(self.local_complexity)
        choice.observe_all(self.clear)
        super().__init__([W.HBox([self.lc_button, self.radius]), self.lc_progress, self.lc])

    def clear(self, change=None) -> None:
        """Another choice: the numbers shown are of other codes."""
        self.lc.value = ""
        self.runner.supersede()

    @guarded
    def local_complexity(self, button=None) -> None:
        """Both splits in one job on a copy of the model."""
        radius = self.radius.value
        self.runner.submit(lab.local_complexity_table_job(self.choice.view(), self.choice.layers(), radius),
                           lambda rows: self._show(rows, radius), self.error.show)

    @guarded
    def _show(self, rows, radius) -> None:
        self.tables_["local-complexity"] = rows
        self.lc.value = (f"Local complexity: mean number of units whose sign changes over a cross-polytope of "
                         f"radius {radius:.3g} (20 vertices) around each input" + Table(rows).to_html())
