"""The one executor (explorer.executor behind Session.submit): memoised, off the kernel's thread, one job per owner
(a new request supersedes the running one, requests in between coalesce), cancel, progress, and results filed
under the weights of their request."""
import asyncio
import threading
import time

import pytest

from .test_panel_common import run_loop


@pytest.fixture
def session(digits):
    from explorer import Session

    return Session.open(digits, "mlp", device="cpu", width=8, epochs=1, seed=0)


def slow_job(key, value, seconds=0.2, log=None, steps=4, started=None):
    """A job that reports progress `steps` times over `seconds`; log gets its key at prepare(); `started` (an Event)
    is set when compute() begins."""
    from explorer.jobs import Job

    def compute(prepared, progress):
        if started is not None:
            started.set()
        for i in range(steps):
            time.sleep(seconds / steps)
            progress(i + 1, steps)
        return value
    return Job(key, lambda: (log.append(key) if log is not None else None), compute, "slow")


class Owner:
    """A stand-in for a view: what owns jobs."""


def test_session_run_is_the_memoised_synchronous_path(session):
    from explorer.jobs import Job

    calls = []
    job = Job(("k",), lambda: calls.append("prepare") or 2, lambda p, progress: calls.append("compute") or p * 21)
    assert session.run(job) == 42 and session.run(job) == 42 and calls == ["prepare", "compute"]
    assert session.memo(("k",), lambda: 0) == 42  # the same memo as every other result


def test_outside_a_kernel_submit_runs_at_once(session):
    from explorer.panels._jobbar import JobBar

    shown, bar = [], JobBar()
    ticket = session.submit(slow_job(("a",), 1, 0), shown.append, shown.append, bar, owner=Owner())
    assert shown == [1] and bar.bar.value == 4 and session.memo(("a",), lambda: None) == 1
    assert ticket.state == "done" and ticket.token == session.state()


def test_a_burst_runs_the_first_and_the_last_request_and_draws_the_last(session, kernel):
    """100 requests of one owner while the first computes: the first is cancelled at its next progress call, the 98
    between are never prepared, the last runs and is the only one drawn; the kernel's thread is never blocked."""
    owner, shown, prepared = Owner(), [], []

    async def use():
        start = time.perf_counter()
        for i in range(100):
            session.submit(slow_job(("burst", i), i, 0.4, prepared, steps=8), shown.append, shown.append,
                           owner=owner)
        assert time.perf_counter() - start < 1.0
        while session.jobs().busy(owner):
            await asyncio.sleep(0.02)

    run_loop(use())
    assert shown == [99] and prepared == [("burst", 0), ("burst", 99)]
    assert not session.known(("burst", 0)) and session.known(("burst", 99))  # the cancelled one is not stored


def test_the_same_request_again_joins_the_running_job(session, kernel):
    owner, shown, prepared = Owner(), [], []

    async def use():
        # The other request cancels the first job, the same one again un-cancels it: a job that saw the cancel
        # restarts (by design). It sees it at a progress call or, before compute(), at the start: so the two come
        # once compute() runs (a worker thread taking the GIL between them saw the cancel: 1 in 5 runs), and the
        # first progress call is 0.3 s in (a garbage collection between them once took more than 75 ms)
        started = threading.Event()
        session.submit(slow_job(("same",), "one", 0.6, prepared, steps=2, started=started), shown.append,
                       shown.append, owner=owner)
        while not started.is_set():
            await asyncio.sleep(0.005)
        session.submit(slow_job(("other",), "two", 0.3, prepared), shown.append, shown.append, owner=owner)
        session.submit(slow_job(("same",), "one", 0.6, prepared, steps=2), shown.append, shown.append, owner=owner)
        while session.jobs().busy(owner):
            await asyncio.sleep(0.02)

    run_loop(use())
    assert shown == ["one"] and prepared == [("same",)]  # joined: neither started twice nor "other" prepared


def test_owners_do_not_supersede_each_other(session, kernel):
    a, b, shown = Owner(), Owner(), []

    async def use():
        session.submit(slow_job(("a",), "a", 0.2), shown.append, shown.append, owner=a)
        session.submit(slow_job(("b",), "b", 0.2), shown.append, shown.append, owner=b)
        while session.jobs().busy(a) or session.jobs().busy(b):
            await asyncio.sleep(0.02)

    run_loop(use())
    assert sorted(shown) == ["a", "b"]


def test_cancel_stops_the_job_and_draws_nothing(session, kernel):
    from explorer.panels._jobbar import JobBar

    bar, owner, shown, failed = JobBar(), Owner(), [], []
    bar.cancel.on_click(lambda _: session.jobs().cancel(owner))

    async def use():
        session.submit(slow_job(("c",), "c", 0.4), shown.append, failed.append, bar, owner=owner)
        await asyncio.sleep(0.15)
        assert not bar.cancel.disabled
        bar.cancel.click()
        await asyncio.sleep(0.4)

    run_loop(use())
    assert shown == [] and failed == [] and bar.label.value == "cancelled" and not session.known(("c",))


def test_progress_shows_an_estimate_of_the_time_left(session, kernel):
    from explorer.panels._jobbar import JobBar

    bar, labels = JobBar(), []
    bar.label.observe(lambda c: labels.append(c["new"]), names="value")

    async def use():
        session.submit(slow_job(("eta",), 1, 0.4), lambda r: None, lambda e: None, bar)
        await asyncio.sleep(0.6)

    run_loop(use())
    assert any("left" in v for v in labels) and bar.bar.bar_style == "success"


def test_a_result_for_weights_that_changed_is_stored_for_those_never_drawn(session, kernel):
    """Train between the request and the result: the result is filed under the old weights and the job runs again."""
    from explorer.jobs import Job

    shown = []
    total = lambda: float(next(session.model.parameters()).detach().sum())  # noqa: E731
    job = Job(("weights",), total, lambda total, progress: time.sleep(0.2) or total)

    async def use():
        old, before = session.full_key(job.key), total()
        session.submit(job, shown.append, shown.append, owner=Owner())
        session.train(epochs=1, seed=3)  # the user trains meanwhile (another cell, the Train button)
        await asyncio.sleep(0.8)
        now = total()
        assert shown == [now] and now != before  # only the result for the current weights is drawn
        assert session.lookup(old) == (True, before) and session.lookup(session.full_key(job.key)) == (True, now)

    run_loop(use())


def test_a_data_write_during_a_job_is_seen(session, kernel):
    """A write through .data (no version counter sees it) while a job computes: its result is not drawn as current."""
    from explorer.jobs import Job

    shown = []
    p = next(session.model.parameters())
    job = Job(("data-write",), lambda: float(p.detach().sum()), lambda total, progress: time.sleep(0.2) or total)

    async def use():
        session.submit(job, shown.append, shown.append, owner=Owner())
        p.data.mul_(-1)
        await asyncio.sleep(0.8)

    run_loop(use())
    assert shown == [pytest.approx(float(p.detach().sum()))]


def test_training_is_a_job_that_leaves_the_model_alone_until_it_is_done(session, kernel):
    """The training job trains a copy off the kernel's thread; its weights go into the model when it is done, and
    a cancelled training leaves the model as it was."""
    from .conftest import model_fingerprint

    before = model_fingerprint(session.model)
    done = []

    async def use():
        owner = Owner()
        session.submit(session.train_job(epochs=30, seed=1), done.append, done.append, owner=owner)
        await asyncio.sleep(0.3)
        assert all(v.equal(session.model.state_dict()[k]) for k, v in before[0].items())  # not yet
        session.jobs().cancel(owner)
        while session.jobs().busy(owner):
            await asyncio.sleep(0.02)
        assert done == [] and all(v.equal(session.model.state_dict()[k]) for k, v in before[0].items())
        session.submit(session.train_job(epochs=1, seed=1), done.append, done.append, owner=owner)
        while session.jobs().busy(owner):
            await asyncio.sleep(0.02)

    run_loop(use())
    assert len(done) == 1 and done[0] is session.history and len(session.history.checkpoints) == 2
    assert any(not v.equal(session.model.state_dict()[k]) for k, v in before[0].items())


def test_one_place_starts_threads_and_close_stops_them(session, kernel):
    """The executor's workers are the only job threads; close() (also at exit) cancels and joins them."""
    owner = Owner()

    async def use():
        session.submit(slow_job(("long",), 1, 30, steps=300), lambda r: None, lambda e: None, owner=owner)
        await asyncio.sleep(0.1)

    run_loop(use())
    workers = [t for t in threading.enumerate() if t in session.jobs()._threads]
    assert workers and all(t.daemon and t.name.startswith("explorer-job") for t in workers)
    start = time.perf_counter()
    session.jobs().close()
    assert time.perf_counter() - start < 5 and not any(t.is_alive() for t in workers)
