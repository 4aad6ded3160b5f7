"""The evaluation view: rank the compared methods on the metrics, and DiffROAR of the current one (jobs)."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import METHODS, lab
from ...table import Table
from .._common import guarded
from .._runner import JobBar, Runner

COLUMNS = ("rank", "method", "deletion_auc", "insertion_auc", "pointing", "energy", "sensitivity", "seconds")


class RankView(W.VBox):
    """Both run on a copy of the model off the kernel's thread, with a progress bar and a cancel button."""

    def __init__(self, maps, compare, error):
        self.maps, self.compare, self.error, session = maps, compare, error, maps.session
        slow = dict(continuous_update=False)
        self.evaluate_button = W.Button(description="Rank methods", icon="list-ol")
        self.eval_n = W.IntSlider(32, min=4, max=256, description="images", **slow)
        self.progress = JobBar("ranking")
        self.table = W.HTML()
        self.roar_button = W.Button(description="DiffROAR", icon="refresh",
                                    tooltip="retrain on the top-k vs the bottom-k attributed pixels (slow)")
        self.roar_k = W.FloatSlider(0.2, min=0.05, max=0.95, step=0.05, description="keep k", **slow)
        self.roar_epochs = W.IntSlider(5, min=1, max=30, description="epochs", **slow)
        self.roar_progress = JobBar("DiffROAR")
        self.roar = W.HTML()
        self.rows_: list[dict] = []
        self.ranking, self.retraining = Runner(session, self.progress), Runner(session, self.roar_progress)
        self.evaluate_button.on_click(self.evaluate)
        self.roar_button.on_click(self.diff_roar)
        super().__init__([W.HBox([self.evaluate_button, self.eval_n]), self.progress, self.table,
                          W.HBox([self.roar_button, self.roar_k, self.roar_epochs]), self.roar_progress, self.roar])

    @guarded
    def evaluate(self, button=None) -> None:
        """Rank the compared methods (or all) on the current model: an HTML table."""
        names = list(self.compare.compare_methods.value) or list(self.maps.method_names)
        job = lab.rank_job(self.maps.session, names, self.eval_n.value, self.maps.split, self.maps.layers())
        sampled = self.maps.session.data.describe_sample(self.maps.split, self.eval_n.value, job.key[-1])
        self.ranking.submit(job, lambda rows: self._show_ranking(rows, sampled), self.error.show)

    @guarded
    def _show_ranking(self, rows, sampled: str = "") -> None:
        self.rows_ = rows
        cols = [c for c in COLUMNS if c in rows[0]]
        head = "".join(f"<th>{text(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{r[c]:.3f}</td>" if isinstance(r[c], float) else
                                         f"<td>{text(r[c])}</td>" for c in cols) + "</tr>" for r in rows)
        self.table.value = (f"<table class='explorer-table'><tr>{head}</tr>{body}</table>"
                            f"<small>on {sampled}. deletion: lower is better; insertion, pointing, energy: higher; "
                            "sensitivity: lower is more class-sensitive</small>")

    @guarded
    def diff_roar(self, button=None) -> None:
        """DiffROAR for the current method: the architecture retrained on the top-k and on the bottom-k pixels."""
        m, name = self.maps, self.maps.method.value
        layers = m.layers() if METHODS[name].needs_layer else None
        job = lab.diff_roar_job(m.session, name, layers, m.params(name), self.roar_k.value, self.roar_epochs.value)
        k = self.roar_k.value
        self.retraining.submit(job, lambda r: self._show_roar(r, name, k), self.error.show)

    @guarded
    def _show_roar(self, r, name, k) -> None:
        self.roar_result_ = r
        self.roar.value = (f"DiffROAR of <b>{text(name)}</b> keeping {k:.0%} of the pixels: retrained on the "
                           f"most attributed {r['top_accuracy']:.1%}, on the least {r['bottom_accuracy']:.1%}, "
                           f"difference <b>{r['diff_roar']:+.3f}</b> (&gt; 0: the map ranks the evidence first; "
                           "a random map gives about 0)")

    def exports(self) -> dict:
        """The ranking as CSV, once computed."""
        return {"ranking.csv": Table(self.rows_).to_csv() if self.rows_ else None}
