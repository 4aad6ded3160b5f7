"""The local complexity view (Humayun et al. 2024): units whose sign changes within a radius of each input."""
from __future__ import annotations

import ipywidgets as W

from ...codes import lab
from ...table import Table
from .._common import guarded
from .._jobbar import JobBar
from .._view import View


class ComplexityView(View):
    """Mean local complexity per layer, train and test, at the state's radius (a job on a copy of the model)."""

    again = "press <b>local complexity</b>"
    press = "local_complexity"

    def __init__(self, state, error):
        self.lc_button = W.Button(description="local complexity", layout=W.Layout(width="auto"),
                                  tooltip="units whose sign changes within radius r")
        self.radius = W.FloatLogSlider(value=state.radius, base=10, min=-3, max=1, description="radius r",
                                       continuous_update=False)
        W.link((self.radius, "value"), (state, "radius"))
        self.lc = W.HTML()
        self.tables_: dict[str, list] = {}
        bar = JobBar("local complexity")
        self.lc_button.on_click(self.local_complexity)
        state.observe_codes(self.clear)
        super().__init__(state, error, [W.HBox([self.lc_button, self.radius]), bar, self.lc], bar)

    def clear(self, change=None) -> None:
        """Another choice: the numbers shown are of other codes."""
        self.lc.value = ""
        self.forget()

    @guarded
    def local_complexity(self, button=None) -> None:
        """Both splits in one job on a copy of the model."""
        radius = self.state.radius
        self.submit(lab.local_complexity_table_job(self.session_now(), self.state.layers(), radius),
                    lambda rows: self._show(rows, radius))

    def _show(self, rows, radius) -> None:
        self.tables_["local-complexity"] = rows
        self.lc.value = (f"Local complexity: mean number of units whose sign changes over a cross-polytope of "
                         f"radius {radius:.3g} (20 vertices) around each input" + Table(rows).to_html())
