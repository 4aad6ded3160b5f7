"""Panel helpers: debounce runs only the last of rapid calls, per object, inside a kernel; at once elsewhere."""
import asyncio
import threading
import types

import pytest


def run_loop(coro) -> None:
    """asyncio.run in a thread of its own (Playwright's sync API may leave a loop running in this one); errors
    raised inside the coroutine are raised here."""
    errors = []

    def target():
        try:
            asyncio.run(coro)
        except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(err)
    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    assert not t.is_alive()
    if errors:
        raise errors[0]


class Probe:
    def __init__(self):
        self.seen = []

    def move(self, value):
        self.seen.append(value)


def test_debounce_last_value_per_object(monkeypatch):
    import IPython

    from explorer.panels._common import debounce

    Probe.debounced = debounce(0.05)(Probe.move)
    a, b = Probe(), Probe()
    a.debounced(0)  # no kernel: at once
    assert a.seen == [0]
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))

    async def drag():
        for v in range(1, 51):  # 50 moves, faster than the wait
            a.debounced(v)
            if v % 10 == 0:
                b.debounced(-v)
        assert a.seen == [0] and b.seen == []  # nothing yet: still moving
        await asyncio.sleep(0.2)

    run_loop(drag())
    assert a.seen == [0, 50] and b.seen == [-50]  # the last value of each, once; b did not cancel a


@pytest.mark.parametrize("shell", [None, types.SimpleNamespace()])
def test_debounce_outside_a_kernel_is_immediate(monkeypatch, shell):
    import IPython

    from explorer.panels._common import debounce

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    p = Probe()
    f = debounce(10)(Probe.move)

    async def call():  # a running loop that is not a kernel's (e.g. Playwright's) must not defer the call
        f(p, 1)

    run_loop(call())
    assert p.seen == [1]


def test_worker_keeps_the_kernel_free_and_drops_stale_results(monkeypatch):
    import time

    import IPython

    from explorer.panels._common import Worker

    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    worker, shown, errors, ticks = Worker(), [], [], []

    def slow(value, seconds):
        def compute():
            time.sleep(seconds)
            worker.call(lambda: ticks.append((value, threading.get_ident())))
            return value
        return compute

    loop_thread = []

    async def use():
        loop_thread.append(threading.get_ident())
        start = time.perf_counter()
        worker.submit(slow("old", 0.4), shown.append, errors.append)  # e.g. a UMAP for the previous layer
        worker.submit(slow("new", 0.05), shown.append, errors.append)
        assert time.perf_counter() - start < 0.1  # submit returned at once: the loop was never blocked
        await asyncio.sleep(0.2)
        assert shown == ["new"]
        await asyncio.sleep(0.4)  # the old result arrives later and must not be drawn over the new one
        assert shown == ["new"] and not errors
        worker.submit(lambda: 1 / 0, shown.append, errors.append)
        await asyncio.sleep(0.1)
        assert isinstance(errors[0], ZeroDivisionError) and shown == ["new"]

    run_loop(use())
    assert sorted(ticks) == [("new", loop_thread[0]), ("old", loop_thread[0])]  # progress drawn on the loop's thread


def test_worker_outside_a_kernel_runs_at_once(monkeypatch):
    import IPython

    from explorer.panels._common import Worker

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    shown, errors = [], []
    Worker().submit(lambda: 2, shown.append, errors.append)
    Worker().submit(lambda: [][1], shown.append, errors.append)
    assert shown == [2] and isinstance(errors[0], IndexError)


def test_worker_cached_starts_only_what_the_memo_lacks(digits, monkeypatch):
    import IPython

    from explorer import Session
    from explorer.panels._common import Worker

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    session, shown, started = Session.open(digits, "mlp", device="cpu", width=4), [], []

    def start():
        started.append(1)
        return lambda: "computed"
    w = Worker()
    w.cached(session, ("k",), start, shown.append, shown.append)
    w.cached(session, ("k",), start, shown.append, shown.append)  # stored: no start, no thread
    assert shown == ["computed", "computed"] and started == [1] and session.memo(("k",), lambda: "other") == "computed"
