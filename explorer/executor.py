"""The one executor of the labs' jobs: prepare() on the kernel's thread, compute() on a worker, results to the loop.

Every slow result of every panel (and the Tour's training) goes through `Session.submit`, which lands here. Per owner
(a view) at most one job runs: a new request cancels the running one at its next progress call, and requests made
meanwhile coalesce into one queued request, the latest. Outside a kernel (scripts, tests) everything runs at once
on the caller's thread. Nothing else in the package starts a thread for a job.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .device import fitted_threads, torch_threads
from .jobs import Cancelled, Job
from .shutdown import stop_at_exit

ATTEMPTS = 3  # runs of one request whose weights keep changing under it before it fails
PROGRESS_EVERY = 0.05  # seconds between progress reports handed to the loop (a page needs no more than 20 a second)
THREADS_EVERY = 10.0  # seconds a thread count (explorer.device.torch_threads: cores, a 40 ms probe) is trusted
SETTLE = 0.15  # a queued request starts once an owner's requests have been quiet this long: a burst runs twice


def kernel_loop():
    """The IPython kernel's running event loop, or None (tests, scripts, or another library's loop)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def after_each_cell(ref) -> None:
    """In IPython, call ref()() after every cell that runs (ref: a weak reference; the hook goes when it dies), so
    that weights changed by a user's cell are seen by the open views. Nothing outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    events = getattr(shell, "events", None)
    if events is None:
        return

    def hook(*_):
        fn = ref()
        if fn is None:
            events.unregister("post_run_cell", hook)
        else:
            fn()
    events.register("post_run_cell", hook)


def _call(watcher, name: str, *args) -> None:
    """watcher.name(*args) if the watcher has it (a progress callable need not know a job's start and end)."""
    fn = getattr(watcher, name, None)
    if fn is not None:
        fn(*args)


@dataclass(eq=False)
class Ticket:
    """One request: its job, callbacks, the key it is filed under, and how to stop it."""

    session: Any
    job: Job
    on_done: Any
    on_failed: Any
    watcher: Any = None  # progress(done, total, info); optional start(title, estimate, budget), finish(how), refuse
    owner: Any = None
    attempts: int = 1
    full: tuple | None = None  # the memo key at the start: the weights token, the data and the job's key
    state: str = "new"  # new, queued, running, done, failed, cancelled, superseded
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def token(self):
        """The weights token the result is (or will be) computed for."""
        return None if self.full is None else self.full[0]

    def cancel(self) -> None:
        """Stop at the job's next progress call; nothing is drawn for it."""
        self.stop.set()


class Executor:
    """Runs jobs for sessions (one executor per root session; checkpoint copies share it)."""

    def __init__(self, workers: int = 4):
        self.workers = workers
        self.started = 0  # jobs whose compute() started (tests count them)
        self._slots: dict[int, dict] = {}  # id(owner) -> {"running": Ticket | None, "queued": Ticket | None}
        self._queue: deque = deque()  # (ticket, prepared, loop) waiting for a worker
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Condition()
        self._running: set[Ticket] = set()
        self._closed = False
        self._fitted = (-THREADS_EVERY, 1)  # (when, torch threads): the thread policy, probed at most every 10 s
        ref = weakref.ref(self)
        # before Python finalises (and before it joins threads): a worker still inside torch then would crash it
        stop_at_exit(lambda: list(e._threads) if (e := ref()) is not None else [],
                     lambda: (e := ref()) is not None and e.stop())

    # --- on the kernel's thread -------------------------------------------------------------------------------
    def submit(self, session, job: Job, on_done, on_failed=None, watcher=None, owner=None) -> Ticket:
        """Draw job's result with on_done(result, ticket), or on_failed(error); see the module's docstring."""
        on_done = _two_args(on_done)
        ticket = Ticket(session, job, on_done, on_failed or _raise, watcher, owner)
        if owner is not None and kernel_loop() is not None:
            slot = self._slots.setdefault(id(owner), {"running": None, "queued": None})
            running = slot["running"]
            if running is not None:
                if running.session is session and running.full == session.full_key(job.key):
                    running.on_done, running.on_failed, running.watcher = on_done, ticket.on_failed, watcher
                    running.stop.clear()  # wanted again after all: not cancelled (restarted if it already stopped)
                    self._supersede(slot)  # the running job is what is wanted: what was queued is not
                    return running
                running.cancel()  # superseded: it stops at its next progress call
            if running is not None or time.perf_counter() - slot.get("at", -SETTLE) < SETTLE:  # in a burst
                self._supersede(slot)
                ticket.state, slot["queued"], slot["at"] = "queued", ticket, time.perf_counter()
                _call(watcher, "start", f"{job.title or 'job'} (when the moves settle)", None, None)
                if running is None:
                    kernel_loop().call_later(SETTLE, self._start_queued, slot)
                return ticket
        self._start(ticket)
        return ticket

    def cancel(self, owner) -> None:
        """Stop the owner's running job and drop its queued one."""
        slot = self._slots.get(id(owner))
        if slot is not None:
            self._supersede(slot)
            if slot["running"] is not None:
                slot["running"].cancel()

    def busy(self, owner) -> bool:
        """Whether the owner has a job running or queued."""
        slot = self._slots.get(id(owner))
        return slot is not None and (slot["running"] is not None or slot["queued"] is not None)

    def run(self, session, job: Job, watcher=None) -> Any:
        """The job's result on this thread: the stored one, or prepare() and compute() here, then stored."""
        full = session.full_key(job.key)
        found, value = session.lookup(full)
        if found:
            return value
        session.misses += 1
        session.admit(job)
        prepared = job.prepare()
        with fitted_threads(self._threads_now()):
            result = job.compute(prepared, watcher or _no_progress)
        if job.commit is not None:
            result = job.commit(result)
        return session.store(full, result) if job.store else result

    @staticmethod
    def _supersede(slot) -> None:
        if slot["queued"] is not None:
            slot["queued"].state = "superseded"
            slot["queued"] = None

    def _start(self, ticket: Ticket) -> None:
        """Look the result up, else admit, prepare here, and compute (on a worker inside a kernel, else here)."""
        session, job = ticket.session, ticket.job
        ticket.full = session.full_key(job.key)
        found, value = session.lookup(ticket.full) if job.store else (False, None)
        if found:
            ticket.state = "done"
            _call(ticket.watcher, "finish", "stored")
            ticket.on_done(value, ticket)
            return
        session.misses += 1
        try:  # the estimate and prepare() on this thread: either may use the model
            estimate = session.admit(job)
        except Exception as err:  # noqa: BLE001 - a job that cannot fit: said by the bar and on_failed
            ticket.state = "failed"
            _call(ticket.watcher, "refuse", err)
            ticket.on_failed(err)
            return
        _call(ticket.watcher, "start", job.title, estimate, session.time_budget)
        try:
            prepared = job.prepare()
        except Exception as err:  # noqa: BLE001 - shown by on_failed
            ticket.state = "failed"
            _call(ticket.watcher, "finish", "failed")
            ticket.on_failed(err)
            return
        loop = kernel_loop()
        ticket.state = "running"
        self.started += 1
        if loop is None or self._closed:  # a script or a test: here and now
            try:
                with fitted_threads(self._threads_now()):
                    result, err = job.compute(prepared, self._progress_here(ticket)), None
            except Exception as e:  # noqa: BLE001 - handed on like a worker's
                result, err = None, e
            self._finish(ticket, result, err)
            return
        if ticket.owner is not None:
            self._slots.setdefault(id(ticket.owner), {"running": None, "queued": None})["running"] = ticket
        with self._lock:
            self._queue.append((ticket, prepared, loop))
            self._running.add(ticket)
            if self._idle == 0 and len(self._threads) < self.workers:
                t = threading.Thread(target=self._worker, daemon=True, name=f"explorer-job-{len(self._threads)}")
                self._threads.append(t)
                t.start()
            self._lock.notify()

    def _progress_here(self, ticket: Ticket):
        def progress(done, total, info=None):
            if ticket.stop.is_set():
                raise Cancelled(f"{ticket.job.title or 'job'} cancelled")
            if ticket.watcher is not None:
                ticket.watcher(done, total, info)
        return progress

    def _finish(self, ticket: Ticket, result, err) -> None:
        """On the kernel's loop: store, then draw if still wanted and still of the current weights; then start the
        owner's queued request."""
        slot = self._slots.get(id(ticket.owner)) if ticket.owner is not None else None
        if slot is not None and slot["running"] is ticket:
            slot["running"] = None
        session, job = ticket.session, ticket.job
        if err is None and job.commit is not None and not ticket.stop.is_set():
            try:
                result = job.commit(result)  # here, on the kernel's thread: it may change the user's model
            except Exception as e:  # noqa: BLE001 - shown by on_failed
                result, err = None, e
        if err is None and job.store:
            session.store(ticket.full, result)  # filed under the weights it was computed with
        try:
            if isinstance(err, Cancelled) and not ticket.stop.is_set() and not (slot and slot["queued"]):
                self._start(Ticket(session, job, ticket.on_done, ticket.on_failed, ticket.watcher, ticket.owner))
            elif ticket.stop.is_set() or isinstance(err, Cancelled):  # wanted again only after it had stopped
                ticket.state = "cancelled"
                _call(ticket.watcher, "finish", "cancelled")
            elif err is not None:
                ticket.state = "failed"
                _call(ticket.watcher, "finish", "failed")
                ticket.on_failed(err)
            elif not job.changes_weights and session.full_key(job.key) != ticket.full:  # weights changed meanwhile
                if ticket.attempts < ATTEMPTS and not (slot and slot["queued"]):
                    again = Ticket(session, job, ticket.on_done, ticket.on_failed, ticket.watcher, ticket.owner,
                                   ticket.attempts + 1)
                    self._start(again)
                elif not (slot and slot["queued"]):
                    ticket.state = "failed"
                    _call(ticket.watcher, "finish", "failed")
                    ticket.on_failed(RuntimeError("the model kept changing while this was computed: press again "
                                                  "once it is trained"))
            else:
                ticket.state = "done"
                _call(ticket.watcher, "finish", "done")
                ticket.on_done(result, ticket)
        finally:
            if slot is not None:
                self._start_queued(slot)

    def _start_queued(self, slot) -> None:
        """Start the owner's queued request once nothing runs and its requests have settled (SETTLE)."""
        if slot["running"] is not None or slot["queued"] is None:
            return
        wait = slot.get("at", 0.0) + SETTLE - time.perf_counter()
        loop = kernel_loop()
        if wait > 0 and loop is not None:
            loop.call_later(wait, self._start_queued, slot)
            return
        queued, slot["queued"] = slot["queued"], None
        self._start(queued)

    def _threads_now(self) -> int:
        """torch's threads for the next job: the cores this process can have, one where a short probe finds them
        contended (explorer.device.torch_threads), re-probed at most every THREADS_EVERY seconds."""
        at, n = self._fitted
        if time.perf_counter() - at > THREADS_EVERY:
            n = torch_threads()
            self._fitted = (time.perf_counter(), n)
        return n

    # --- on the workers -------------------------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
                while not self._queue and not self._closed:
                    self._lock.wait()
                self._idle -= 1
                if self._closed and not self._queue:
                    return
                ticket, prepared, loop = self._queue.popleft()
            self._compute(ticket, prepared, loop)

    def _compute(self, ticket: Ticket, prepared, loop) -> None:
        last = [0.0]

        def progress(done, total, info=None):
            if ticket.stop.is_set():
                raise Cancelled(f"{ticket.job.title or 'job'} cancelled")
            partial = info is not None and "partial" in info
            if partial or done >= total or time.perf_counter() - last[0] >= PROGRESS_EVERY:
                last[0] = time.perf_counter()
                loop.call_soon_threadsafe(self._progress, ticket, done, total, info)
        try:
            if ticket.stop.is_set():
                result, err = None, Cancelled("cancelled")
            else:
                with fitted_threads(self._threads_now()):
                    result, err = ticket.job.compute(prepared, progress), None
        except BaseException as e:  # noqa: BLE001 - handed to the kernel's loop
            result, err = None, e
        del prepared  # the job's private copy goes now, not when the loop gets round to it
        with self._lock:
            self._running.discard(ticket)
            self._lock.notify_all()
        try:
            loop.call_soon_threadsafe(self._finish, ticket, result, err)
        except RuntimeError:  # the loop is closed (the kernel is shutting down): nobody is waiting
            pass

    def _progress(self, ticket: Ticket, done, total, info) -> None:
        if ticket.stop.is_set() or ticket.watcher is None:
            return  # a superseded or cancelled job's progress: not drawn
        ticket.watcher(done, total, info)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel every running job and wait for the workers to stop (at exit: no thread holds tensors while the
        interpreter finalises)."""
        self.stop()
        end = time.perf_counter() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.perf_counter()))

    def stop(self) -> None:
        """Take no more work and cancel what runs and waits (each job stops at its next progress call)."""
        with self._lock:
            self._closed = True
            for ticket in self._running:
                ticket.cancel()
            for ticket, _, _ in self._queue:
                ticket.cancel()
            self._lock.notify_all()


def _two_args(fn):
    """on_done as fn(result, ticket), whether fn takes the ticket or the result alone."""
    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return fn
    return fn if n >= 2 else (lambda result, ticket: fn(result))


def _no_progress(done, total, info=None) -> None:
    """The progress callback of a job nobody watches."""


def _raise(err: BaseException) -> None:
    raise err
