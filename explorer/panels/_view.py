"""The base of every lab view and of every lab's state: results through the one executor, and what they belong to.

A view submits its jobs as their owner (one runs at a time, the latest request wins), draws what comes back, and
keeps the session and weights token of the drawn result. When the weights change (training, a notebook cell), a
`cheap` view computes again; any other keeps its picture and says it belongs to the weights before the change.
A view reads and writes the lab's state (a small HasTraits object); it never holds another view.
"""
from __future__ import annotations

import ipywidgets as W
import traitlets as T

from ._common import ErrorLine, guarded

STALE = ("<div class='explorer-stale' style='color:#8a5a00;background:#fff4d6;padding:2px 6px'>&#9888; computed "
         "for the weights before the last change (training, or a cell that changed the model): {what}</div>")


class LabState(T.HasTraits):
    """The shared choices of one lab panel; views observe and set its traits. session_now() is the session the
    choices name (the user's, or a copy at a checkpoint)."""

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    def session_now(self):
        """The session the views look at now."""
        return self.session


class _Watch:
    """A job's progress for a view: its bar (start, progress, finish, refuse) and streamed snapshots."""

    def __init__(self, bar, partial):
        self.bar, self.partial = bar, partial

    def __call__(self, done, total, info=None):
        if info and "partial" in info and self.partial is not None:
            self.partial(info["partial"])
        if self.bar is not None:
            self.bar(done, total, info)

    def __getattr__(self, name):  # start, finish, refuse: the bar's, when there is one
        if name.startswith("_") or self.bar is None:
            raise AttributeError(name)
        return getattr(self.bar, name)


class View(W.VBox):
    """A view of a lab's state: `submit` runs a job and draws its result; `shown_` is (session, token) of what is
    drawn; `recompute()` asks again for the current choice."""

    cheap = False  # recomputed at once when the weights change (else: marked as computed for earlier weights)
    again = "compute it again"  # what the stale note asks the user to do
    press = None  # a view with one button: the name of its handler (a restored tour presses it again)
    acts: dict = {}  # a view with several buttons: handler name -> the place it draws in (one result a place); last_
    # keeps the handler that drew each place, recompute() runs those again (so does a restored tour)

    def __init__(self, state: LabState, error: ErrorLine, children, bar=None):
        self.state, self.session, self.error, self.bar = state, state.session, error, bar
        self.stale = W.HTML()
        self.stale.add_class("explorer-stale-note")
        self.shown_ = self.ticket_ = None
        self.last_, self.todo_ = {}, []  # place -> the handler that drew what it shows; handlers still to run again
        self.chaining_ = False  # a handler runs as part of recompute()'s chain (not a press of the user's)
        if bar is not None:
            bar.cancel.on_click(lambda _: (self.todo_.clear(), self.session.jobs().cancel(self)))
        self.session.watch(self.weights_changed)
        super().__init__([self.stale, *children])

    def session_now(self):
        """The session this view's results must come from now."""
        return self.state.session_now()

    def submit(self, job, draw, partial=None, session=None, failed=None, act=None) -> None:
        """Run job (on session, default the state's now) as this view's one job; draw(result) when it is done,
        failed(error) (default: the error line) when it fails. act: the handler asking (one of acts)."""
        def done(result, ticket):
            self.shown_, self.ticket_ = (ticket.session, ticket.token), ticket
            self._did(act)
            guarded(lambda view: draw(result))(self)
            self._again()

        def fail(err):
            self.todo_ = []
            (failed or self.error.show)(err)
        if not self.chaining_:  # the user's own press replaces the rest of a recompute's chain
            self.todo_ = []
        s = session or self.session_now()
        s.submit(job, done, fail, _Watch(self.bar, partial), owner=self)

    def drawn(self, session=None, act=None) -> None:
        """Say that what is drawn now was computed here and now (a view that computes on the kernel's thread) by the
        handler act (one of acts)."""
        s = session or self.session_now()
        self.shown_ = (s, s.state())
        self._did(act)

    def _did(self, act) -> None:
        self.stale.value = ""
        self.remove_class("explorer-stale-view")
        if act is not None:
            self.last_[self.acts[act]] = act

    def forget(self) -> None:
        """Nothing of a result is drawn any more (a new choice cleared it); a job in flight is superseded."""
        self.shown_, self.last_, self.todo_ = None, {}, []
        self.stale.value = ""
        self.remove_class("explorer-stale-view")
        self.session.jobs().cancel(self)

    def current(self) -> bool:
        """Whether the drawn result (if any) is of the weights the view looks at now."""
        if self.shown_ is None:
            return True
        s, token = self.shown_
        return s is self.session_now() and s.state() == token

    def weights_changed(self) -> None:
        """The session's weights changed: recompute a cheap view, mark any other as old."""
        if self.current():
            return
        if self.cheap:
            guarded(lambda view: view.recompute())(self)
        else:
            self.stale.value = STALE.format(what=self.again)
            self.add_class("explorer-stale-view")

    def recompute(self, change=None) -> None:
        """Ask again for the current choice (views override): run the handlers that drew what is shown (last_) again,
        one after the other; a ValueError names one that this view does not have."""
        unknown = [a for a in self.last_.values() if a not in self.acts]
        if unknown:
            raise ValueError(f"{type(self).__name__} cannot compute {', '.join(map(repr, unknown))} again: its "
                             f"buttons' handlers are {', '.join(self.acts) or 'none'}")
        self.todo_ = list(self.last_.values())
        self._again()

    def _again(self) -> None:
        """Run the handlers still to run again until one leaves a job running (its result runs the rest)."""
        while self.todo_ and not self.session.jobs().busy(self):
            self.chaining_ = True
            try:
                getattr(self, self.todo_.pop(0))()
            finally:
                self.chaining_ = False

    def close(self) -> None:
        """Stop this view's job, then close it (also from Widget.__del__: nothing imported or made here)."""
        jobs = getattr(getattr(self, "session", None), "executor", None)
        if jobs is not None:
            jobs.cancel(self)
        super().close()
