"""The job contract: session.run and the panels' runner share one implementation, store every result under the
weights of its request, draw only the newest and current one, join work in flight, and cancel."""
import asyncio
import time

import pytest

from .test_panel_common import run_loop


@pytest.fixture
def session(digits):
    from explorer import Session

    return Session.open(digits, "mlp", device="cpu", width=8, epochs=1, seed=0)


def slow_job(key, value, seconds=0.2, log=None):
    from explorer.jobs import Job

    def compute(prepared, progress):
        for i in range(4):
            time.sleep(seconds / 4)
            progress(i + 1, 4)
        return value
    return Job(key, lambda: (log.append(key) if log is not None else None), compute, "slow")


def test_session_run_is_the_memoised_synchronous_path(session):
    from explorer.jobs import Job

    calls = []
    job = Job(("k",), lambda: calls.append("prepare") or 2, lambda p, progress: calls.append("compute") or p * 21)
    assert session.run(job) == 42 and session.run(job) == 42 and calls == ["prepare", "compute"]
    assert session.memo(("k",), lambda: 0) == 42  # the same memo as every other result


def test_runner_outside_a_kernel_runs_at_once(session):
    from explorer.panels._runner import JobBar, Runner

    shown, bar = [], JobBar()
    Runner(session, bar).submit(slow_job(("a",), 1, 0), shown.append, shown.append)
    assert shown == [1] and bar.bar.value == 4 and session.memo(("a",), lambda: None) == 1


def test_superseded_results_are_kept_not_drawn_and_work_in_flight_is_joined(session, kernel):
    from explorer.panels._runner import Runner

    runner, shown, prepared = Runner(session), [], []

    async def use():
        start = time.perf_counter()
        runner.submit(slow_job(("layer", 1), "one", 0.3, prepared), shown.append, shown.append)
        runner.submit(slow_job(("layer", 2), "two", 0.1, prepared), shown.append, shown.append)
        assert time.perf_counter() - start < 0.1  # the kernel's thread was never blocked
        runner.submit(slow_job(("layer", 1), "one", 0.3, prepared), shown.append, shown.append)  # back again
        await asyncio.sleep(0.6)
        assert shown == ["one"] and prepared == [("layer", 1), ("layer", 2)]  # joined, not started twice
        runner.submit(slow_job(("layer", 2), "two", 0.1, prepared), shown.append, shown.append)
        assert shown == ["one", "two"] and len(prepared) == 2  # the superseded result was kept: instant

    run_loop(use())


def test_cancel_stops_the_job_and_draws_nothing(session, kernel):
    from explorer.panels._runner import JobBar, Runner

    bar = JobBar()
    runner, shown, failed = Runner(session, bar), [], []

    async def use():
        runner.submit(slow_job(("c",), "c", 0.4), shown.append, failed.append)
        await asyncio.sleep(0.15)
        assert not bar.cancel.disabled
        bar.cancel.click()
        await asyncio.sleep(0.4)

    run_loop(use())
    assert shown == [] and failed == [] and bar.label.value == "cancelled" and not session.known(("c",))


def test_progress_shows_an_estimate_of_the_time_left(session, kernel):
    from explorer.panels._runner import JobBar, Runner

    bar, labels = JobBar(), []
    bar.label.observe(lambda c: labels.append(c["new"]), names="value")

    async def use():
        Runner(session, bar).submit(slow_job(("eta",), 1, 0.4), lambda r: None, lambda e: None)
        await asyncio.sleep(0.6)

    run_loop(use())
    assert any("left" in v for v in labels) and bar.bar.bar_style == "success"


def test_a_result_for_weights_that_changed_is_stored_for_those_never_drawn(session, kernel):
    """Train between the request and the result: the result is filed under the old weights and the job runs again."""
    from explorer.jobs import Job
    from explorer.panels._runner import Runner

    runner, shown = Runner(session), []
    total = lambda: float(next(session.model.parameters()).detach().sum())  # noqa: E731
    job = Job(("weights",), total,
              lambda total, progress: time.sleep(0.2) or total)

    async def use():
        old, before = session.full_key(job.key), total()
        runner.submit(job, shown.append, shown.append)
        session.train(epochs=1, seed=3)  # the user trains meanwhile (another cell, the Train button)
        await asyncio.sleep(0.7)
        now = total()
        assert shown == [now] and now != before  # only the result for the current weights is drawn
        assert session.lookup(old) == (True, before) and session.lookup(session.full_key(job.key)) == (True, now)

    run_loop(use())
