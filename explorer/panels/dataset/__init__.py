"""Whole-dataset jobs panel: saliency metrics or activation codes of every image, on joblib, Dask or Ray."""
from __future__ import annotations

import ipywidgets as W

from .._common import ErrorLine, Lab
from .._view import LabState
from .whole import WholeDatasetView

__all__ = ["DatasetPanel", "WholeDatasetView"]

INTRO = ("<b>Every image of a split</b>, not one at a time: saliency maps with their deletion/insertion AUC, "
         "sparseness, complexity (pointing and energy when the data has masks), or the activation codes with their "
         "k-NN and K-Means. Each task is one partition, written as it finishes (Parquet tables, .npy arrays) to the "
         "folder; a re-run with the same choices resumes, and a folder holding other files is refused unless "
         "asked. Engine: empty for this kernel, a Dask scheduler address, or a Ray cluster ('auto', "
         "'ray://head:10001'). Read the results elsewhere with <code>explorer.dataset.load(folder)</code>.")


class DatasetPanel(Lab):
    """The tour's 'Whole dataset' tab: one WholeDatasetView on the session."""

    def __init__(self, session):
        self.session, self.error = session, ErrorLine()
        self.state = LabState(session)
        self.whole = WholeDatasetView(session, self.state)
        super().__init__([W.HTML(INTRO), self.whole])
        self.add_class("explorer-dataset-lab")
