"""The panels' runner of the labs' jobs: off the kernel's thread, newest drawn, every result kept, nothing stale."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..jobs import Cancelled, Job
from ._common import _kernel_loop
from ._jobbar import JobBar

ATTEMPTS = 3  # runs of one request whose weights keep changing under it before the runner gives up


@dataclass
class _Run:
    """One job in flight: who is waiting for it and how to stop it."""
    job: Job
    full: tuple
    generation: int
    done: object
    failed: object
    partial: object = None
    attempts: int = 1
    estimate: object = None  # the job's Estimate, shown again when a request joins it
    stop: threading.Event = field(default_factory=threading.Event)


class Runner:
    """Runs a panel's jobs on a session. A stored result is drawn at once; otherwise prepare() runs here (the kernel's
    thread: it may use the model) and compute() on a thread when a kernel's loop runs (at once elsewhere). Only the
    newest request is drawn, but every finished result is stored under the weights' state at its request, so going
    back to an earlier choice is instant; a request already in flight is joined, not started twice. A result whose
    weights changed meanwhile (the user trained) is stored for those weights and never drawn: the job runs again."""

    def __init__(self, session, bar: JobBar | None = None):
        self.session, self.bar = session, bar
        self.generation = 0
        self._running: dict[tuple, _Run] = {}
        self._loop = None
        if bar is not None:
            bar.cancel.on_click(lambda _: self.cancel())

    @property
    def busy(self) -> bool:
        """Whether a job of this runner is computing."""
        return bool(self._running)

    def supersede(self) -> None:
        """Nothing in flight may be drawn any more (the choice it was for is gone); it is still stored."""
        self.generation += 1

    def submit(self, job: Job, done, failed, partial=None, attempts: int = 1) -> None:
        """Draw job's result with done(result), or failed(error); partial(value) for snapshots it streams."""
        self.generation += 1
        full = self.session.full_key(job.key)
        found, value = self.session.lookup(full)
        if found:
            done(value)
            return
        if (run := self._running.get(full)) is not None:  # the same result is computing: wait for it
            run.generation, run.done, run.failed, run.partial = self.generation, done, failed, partial
            if self.bar is not None:
                self.bar.start(job.title, run.estimate, self.session.time_budget)
            return
        self._loop = _kernel_loop()
        try:  # the estimate and prepare() on this thread: either may use the model
            estimate = self.session.admit(job)
        except Exception as err:  # noqa: BLE001 - a job that cannot fit: shown by the bar and failed()
            if self.bar is not None:
                self.bar.refuse(err)
            failed(err)
            return
        try:
            prepared = job.prepare()
        except Exception as err:  # noqa: BLE001 - shown by failed()
            failed(err)
            return
        if self._loop is None:  # a script or a test: here and now
            try:
                result = job.compute(prepared, self._sync_progress(partial))
            except Exception as err:  # noqa: BLE001 - shown by failed()
                failed(err)
                return
            done(self.session.store(full, result))
            return
        run = self._running[full] = _Run(job, full, self.generation, done, failed, partial, attempts, estimate)
        if self.bar is not None:
            self.bar.start(job.title, estimate, self.session.time_budget)
        threading.Thread(target=self._work, args=(run, prepared), daemon=True, name="explorer-job").start()

    def cancel(self) -> None:
        """Stop every job of this runner at its next progress report; nothing is drawn for them."""
        for run in self._running.values():
            run.stop.set()

    def _sync_progress(self, partial):
        def progress(done, total, info=None):
            if info and "partial" in info and partial is not None:
                partial(info["partial"])
            if self.bar is not None:
                self.bar(done, total, info)
        return progress

    def _work(self, run: _Run, prepared) -> None:
        """On the thread: compute, then hand the outcome to the kernel's loop."""
        loop = self._loop

        def progress(done, total, info=None):
            if run.stop.is_set():
                raise Cancelled(f"{run.job.title or 'job'} cancelled")
            loop.call_soon_threadsafe(self._progress, run, done, total, info)
        try:
            result, err = run.job.compute(prepared, progress), None
        except BaseException as e:  # noqa: BLE001 - handed to the kernel's loop
            result, err = None, e
        loop.call_soon_threadsafe(self._finish, run, result, err)

    def _progress(self, run: _Run, done, total, info) -> None:
        if run.generation != self.generation or run.stop.is_set():
            return  # a superseded or cancelled job's progress: not drawn
        if info and "partial" in info and run.partial is not None:
            run.partial(info["partial"])
        if self.bar is not None:
            self.bar(done, total, info)

    def _finish(self, run: _Run, result, err) -> None:
        """On the kernel's loop: store, then draw if still wanted and still of the current weights."""
        self._running.pop(run.full, None)
        if err is None:
            self.session.store(run.full, result)  # filed under the weights it was computed with
        if run.generation != self.generation:
            return  # superseded: kept for later, not drawn
        if err is None and self.session.full_key(run.job.key) != run.full:  # the weights changed meanwhile
            if run.attempts < ATTEMPTS:
                self.submit(run.job, run.done, run.failed, run.partial, run.attempts + 1)
                return
            err = RuntimeError("the model kept changing while this was computed: press again once it is trained")
        if self.bar is not None:
            self.bar.finish("cancelled" if isinstance(err, Cancelled) else "failed" if err is not None else "done")
        if isinstance(err, Cancelled):
            return
        run.failed(err) if err is not None else run.done(result)
