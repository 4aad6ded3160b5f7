"""Panel helpers: debounce runs only the last of rapid calls, per object, inside a kernel; at once elsewhere.
The runner of jobs is tested in test_runner.py."""
import asyncio
import threading
import types

import pytest


def run_loop(coro, timeout: float = 10) -> None:
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
    t.join(timeout)
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
