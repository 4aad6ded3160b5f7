"""Run a whole-dataset job (saliency metrics or activation codes of every image of a split) into a folder, on this
kernel's joblib or on a Dask or Ray cluster; progress per partition, cancel, a re-run resumes; a summary when done."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...dataset import codes_job, saliency_job
from ...saliency.methods import METHODS
from .._common import ErrorLine, guarded
from .._jobbar import JobBar
from .._view import LabState, View

KINDS = ("saliency metrics", "activation codes")


class WholeDatasetView(View):
    """A folder, an engine, a job: its files appear as partitions finish (Parquet tables, .npy maps or codes)."""

    press = "compute"

    def __init__(self, session, state: LabState | None = None):
        self.kind = W.Dropdown(options=KINDS, description="job")
        self.method = W.Dropdown(options=list(METHODS), value="Grad-CAM", description="method")
        self.split = W.Dropdown(options=sorted(session.data.x), value="test", description="split")
        self.folder = W.Text(placeholder="results/saliency-test", description="folder",
                             tooltip="the output folder: new, empty, or this job's own (to resume it)")
        self.engine = W.Text(value="", placeholder="tcp://scheduler:8786, ray://head:10001 or auto",
                             description="engine", tooltip="a Dask scheduler or a Ray cluster; empty: this kernel")
        self.size = W.BoundedIntText(value=256, min=1, max=1 << 20, description="per task")
        self.overwrite = W.Checkbox(value=False, description="replace another job's results")
        self.run = W.Button(description="run", button_style="primary", icon="play")
        self.summary = W.HTML()
        self.progress = JobBar("partitions")
        self.result = None
        error = ErrorLine()
        self.run.on_click(self.compute)
        self.kind.observe(lambda change: setattr(self.method.layout, "display",
                                                 "" if change["new"] == KINDS[0] else "none"), names="value")
        super().__init__(state or LabState(session), error,
                         [W.HBox([self.kind, self.method, self.split]), W.HBox([self.folder, self.engine]),
                          W.HBox([self.size, self.overwrite, self.run]), self.progress, error, self.summary],
                         self.progress)
        self.add_class("explorer-dataset")

    def job(self):
        """The job the controls name (its settings checked here, on the kernel's thread)."""
        folder = self.folder.value.strip()
        if not folder:
            raise ValueError("choose an output folder for the job's files")
        engine = self.engine.value.strip() or "sequential"
        s = self.session
        common = dict(engine=engine, split=self.split.value, size=self.size.value, overwrite=self.overwrite.value)
        if self.kind.value == KINDS[0]:
            return saliency_job(s.model, s.data, folder, method=self.method.value, **common)
        return codes_job(s.model, s.data, folder, **common)

    @guarded
    def compute(self, button=None) -> None:
        """Run the job through the session's executor; a re-run with the same choices resumes it."""
        job = self.job()
        self.run.disabled = True
        self.summary.value = ""
        self.submit(job, self._show, failed=self._failed)

    def _failed(self, err) -> None:
        self.run.disabled = False
        self.error.show(err)

    def _show(self, result: dict) -> None:
        """What was written: rows, partitions computed and skipped, and the mean of each metric."""
        self.run.disabled = False
        self.result = result
        table, run = result["table"], result["run"]
        means = ", ".join(f"{c} {table[c].mean():.3f}" for c in table.columns
                          if c.endswith(("_auc", "sparseness", "complexity", "energy", "pointing")))
        self.summary.value = text(f"{len(table):,} rows in {self.folder.value.strip()}: {len(run['computed'])} "
                                  f"partitions computed, {len(run['skipped'])} already there. {means}")

    def current(self) -> bool:
        """Its files name the weights they were computed with (the job's key): never marked old here."""
        return True
