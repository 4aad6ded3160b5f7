"""The evaluation view: rank the compared methods on the localisation and faithfulness metrics (a job)."""
from __future__ import annotations

import ipywidgets as W

from ..._html import text
from ...saliency import lab
from ...table import Table
from .._common import guarded
from .._jobbar import JobBar
from .._view import View

COLUMNS = ("rank", "method", "insertion - deletion", "deletion_auc", "insertion_auc", "pointing", "energy",
           "sensitivity", "seconds")


class RankView(View):
    """The ranking of the compared methods, on a copy of the model off the kernel's thread, with a progress bar and
    a cancel button; DiffROAR of the current method is a second view (RoarView) beside it."""

    again = "press <b>Rank methods</b>"
    press = "evaluate"

    def __init__(self, state, error, all_names):
        self.all_names = list(all_names)
        slow = dict(continuous_update=False)
        self.evaluate_button = W.Button(description="Rank methods", icon="list-ol")
        self.eval_n = W.IntSlider(32, min=4, max=256, description="images", **slow)
        self.progress = JobBar("ranking")
        self.table = W.HTML()
        self.evaluate_button.on_click(self.evaluate)
        super().__init__(state, error, [W.HBox([self.evaluate_button, self.eval_n]), self.progress, self.table],
                         self.progress)

    @property
    def rows_(self) -> list[dict]:
        """The last ranking's rows (the state's: the trust view merges them)."""
        return self.state.rows

    @guarded
    def evaluate(self, button=None) -> None:
        """Rank the compared methods (or all) on the current model: an HTML table."""
        st = self.state
        names = list(st.compared) or self.all_names
        target = st.eval_target()
        job = lab.rank_job(self.session, names, self.eval_n.value, st.split, st.layers(), target=target)
        sampled = self.session.data.describe_sample(st.split, self.eval_n.value, job.key[-2])
        self.submit(job, lambda rows: self._show_ranking(rows, sampled, self._note(names, rows, target)))

    @staticmethod
    def _note(names, rows, target) -> str:
        """For a target that is not a class: what the curves track, and what was left out and why."""
        if target is None:
            return ""
        ranked = {r["method"] for r in rows}
        skipped = [n for n in names if n not in ranked]
        return (f"<br>The curves track the {text(target[0])} target's score"
                + ("" if "sensitivity" in rows[0] else "; class sensitivity needs a classifier's classes and is left "
                   "out") + (f"; not ranked (they explain class indices only): {text(', '.join(skipped))}"
                             if skipped else ""))

    def _show_ranking(self, rows, sampled: str = "", note: str = "") -> None:
        self.state.rows = list(rows)
        rows = [{**r, "insertion - deletion": r["insertion_auc"] - r["deletion_auc"]} for r in rows]
        cols = [c for c in COLUMNS if c in rows[0]]
        head = "".join(f"<th>{text(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{r[c]:.3f}</td>" if isinstance(r[c], float) else
                                         f"<td>{text(r[c])}</td>" for c in cols) + "</tr>" for r in rows)
        self.table.value = (f"<table class='explorer-table'><tr>{head}</tr>{body}</table>"
                            f"<small>on {sampled}. Ranked by insertion &minus; deletion AUC (higher first). "
                            "deletion: lower is better; insertion, pointing, energy: higher; sensitivity: lower is "
                            f"more class-sensitive{note}</small>")

    def exports(self) -> dict:
        """The ranking as CSV, once computed."""
        return {"ranking.csv": Table(self.rows_).to_csv() if self.rows_ else None}
