"""Neural codes panel: determinism and categorization metrics, a map of the codes, selections, training time."""
from __future__ import annotations

import ipywidgets as W

from ...table import Table
from .._common import ErrorLine, Lab
from ..export import Export, bokeh_html
from .choice import ChoiceView
from .complexity import ComplexityView
from .grokking import GrokkingView
from .map import COLOURINGS, PALETTE, MapView
from .phase import PhasePanel
from .selection import SelectionView
from .state import ALL, CodesState
from .tables import TablesView

__all__ = ["ALL", "COLOURINGS", "PALETTE", "CodesPanel", "CodesState", "PhasePanel"]


class CodesPanel(Lab):
    """Codes of the chosen ReLU layers: redundancy and k-NN, a 2-D map coloured by label/prediction/correctness/
    cluster with the image on hover, box/lasso selection with the selected images, and a training-time slider."""

    def __init__(self, session, max_points: int = 3000, seed: int = 0):
        self.session, self.error = session, ErrorLine()
        self.state = CodesState(session)
        self.choice = ChoiceView(self.state)
        self.maps = MapView(self.state, self.error, max_points, seed)
        self.selected = SelectionView(self.state, self.error)
        self.complexity = ComplexityView(self.state, self.error)
        self.tables = TablesView(self.state, self.error)
        self.phase = PhasePanel(session)
        self.grokking = GrokkingView(self.state, self.error)
        self.export = Export("codes", self._exports)
        self.tabs = tabs = W.Tab([W.VBox([self.maps, self.selected]), self.tables, self.complexity, self.phase,
                      self.grokking])
        for i, t in enumerate(("codes and map", "categorization", "local complexity", "phase chart", "grokking")):
            tabs.set_title(i, t)
        super().__init__([self.choice, self.error, tabs, self.export])
        self.add_class("explorer-codes")
        self.maps.recompute()

    @property
    def tables_(self) -> dict:
        """Every table shown, by name (for export)."""
        return {**self.maps.tables_, **self.tables.tables_, **self.complexity.tables_}

    def _exports(self) -> dict:
        return {"map.html": bokeh_html(self.maps.plot_figure, "neural codes map"),
                **{f"{k}.csv": Table(v).to_csv() for k, v in self.tables_.items()}}
