"""The progress bar of a panel's jobs: what runs, its estimated cost, done/total, the time left, cancel."""
from __future__ import annotations

import time

import ipywidgets as W


class JobBar(W.HBox):
    """A progress bar with what runs, its estimated cost, done/total, the time left, and a cancel button."""

    def __init__(self, description: str = ""):
        self.bar = W.IntProgress(value=0, min=0, max=1, description=description, layout=W.Layout(width="45%"))
        self.label = W.Label("")
        self.cancel = W.Button(description="cancel", icon="stop", disabled=True, layout=W.Layout(width="90px"))
        self.started, self.reported, self.warning, self.estimate, self.count = None, False, "", None, ""
        super().__init__([self.bar, self.label, self.cancel])
        self.add_class("explorer-progress")

    def start(self, title: str = "", estimate=None, budget: float | None = None) -> None:
        """A job starts: empty bar, what it computes and its estimate (a warning when over the time budget), the
        cancel button on. The warning stays on the label while the job runs."""
        self.started, self.reported, self.estimate = time.perf_counter(), False, estimate
        self.warning = estimate.over(budget) if estimate is not None and budget is not None else ""
        self.bar.value, self.bar.bar_style = 0, "warning" if self.warning else ""
        what = f"computing the {title}…" if title else "computing…"
        cost = self.warning or ("" if estimate is None else str(estimate))
        self.label.value = f"{what} {cost}" if cost else what
        self.cancel.disabled = False

    def refuse(self, err: Exception) -> None:
        """A job that cannot fit was not started: the bar says why."""
        self.started, self.cancel.disabled, self.warning = None, True, ""
        self.bar.value, self.bar.bar_style = 0, "danger"
        self.label.value = f"not started: {err}"

    def __call__(self, done: int, total: int, info: dict | None = None) -> None:
        """Progress (the trainer's protocol), with the time left estimated from the rate so far."""
        self.bar.max = max(total, 1)
        self.bar.value = min(done, self.bar.max)
        self.reported = True
        left = ""
        if self.started is not None and 0 < done < total:
            eta = (time.perf_counter() - self.started) / done * (total - done)
            left = f", about {eta:.0f} s left" if eta >= 1 else ", under a second left"
        extra = "".join(f"  {k} {v}" for k, v in (info or {}).items() if k != "partial")
        self.count = f"{done}/{total}{left}{extra}"
        self.label.value = f"{self.count}  ({self.warning})" if self.warning else self.count

    def finish(self, how: str = "") -> None:
        """The job ended: done (the last count stays), stored (taken from the memo), cancelled or failed; an
        over-budget warning goes with the job it was about."""
        took = f" in {time.perf_counter() - self.started:.1f} s" if self.started is not None else ""
        self.started, self.cancel.disabled, self.warning = None, True, ""
        if how == "stored":
            self.bar.bar_style, self.label.value = "success", "stored result (computed before)"
            self.bar.value = self.bar.max
            return
        self.bar.bar_style = {"done": "success", "cancelled": "warning", "failed": "danger"}.get(how, "")
        if how == "done":
            self.bar.value = self.bar.max
            guess = f" (estimated {self.estimate.seconds:.1f} s)" if self.estimate is not None and took else ""
            self.label.value = (self.count.split(",")[0] if self.reported else "done") + took + guess
        elif how:
            self.label.value = how
