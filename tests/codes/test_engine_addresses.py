"""Any engine address gets a clear error in bounded time (issue 22.6): malformed ones at once, a service that is not
a Dask scheduler (silent, or answering another protocol) within the timeout, and cancel stops a connect."""
import socket
import threading

import pytest

from explorer import engines
from explorer.engines import engine_info, map_tasks
from explorer.jobs import Cancelled

pytest.importorskip("distributed")


def finishes(fn, within: float):
    """fn()'s exception (or None), failing the test if fn is still running after `within` s (a hang)."""
    out = {}

    def run():
        try:
            fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            out["err"] = err
        out["done"] = True
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(within)
    assert out.get("done"), f"still waiting after {within} s"
    return out.get("err")


@pytest.fixture
def server():
    """server(reply): a local TCP service that accepts and sends `reply` (None: says nothing); its address."""
    socks, conns = [], []

    def start(reply: bytes | None) -> str:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        socks.append(s)

        def serve():
            while True:
                try:
                    c, _ = s.accept()
                except OSError:
                    return
                conns.append(c)
                if reply:
                    c.sendall(reply)
        threading.Thread(target=serve, daemon=True).start()
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"
    yield start
    for c in conns + socks:
        c.close()


def test_a_silent_service_is_not_a_scheduler(server):
    err = finishes(lambda: engine_info(server(None), timeout=1), within=30)
    assert isinstance(err, ConnectionError) and "did not answer as a Dask scheduler within 1 s" in str(err)


def test_an_http_server_is_not_a_scheduler(server):
    address = server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    err = finishes(lambda: map_tasks(address, abs, [1], timeout=2), within=30)
    assert isinstance(err, ConnectionError) and "answered, but not as a Dask scheduler" in str(err), repr(err)


@pytest.mark.parametrize("address, says", [
    ("tcp://:abc", "the port must be a number from 1 to 65535"),
    ("tcp://localhost:99999", "the port must be a number from 1 to 65535"),
    ("tcp://:8786", "needs a host and a port"),
    ("tcp://scheduler", "needs a host and a port"),
    ("ray://", "needs a host and a port"),
    ("foo://host:1", "the scheme must be one of"),
    ("", "unknown engine"),
])
def test_malformed_addresses_fail_at_once(address, says, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a malformed address must not be connected to")

    monkeypatch.setattr(engines, "_dask_handshake", no_network)
    monkeypatch.setattr(engines, "_reachable", no_network)
    with pytest.raises(ValueError, match=says):
        engine_info(address)


def test_cancel_stops_a_hanging_connect(server):
    address, stop = server(None), threading.Event()
    threading.Timer(0.3, stop.set).start()
    err = finishes(lambda: engine_info(address, timeout=120, cancel=stop), within=10)
    assert isinstance(err, Cancelled) and address in str(err)
    flag = [False]
    threading.Timer(0.3, lambda: flag.__setitem__(0, True)).start()  # a callable works as well
    assert isinstance(finishes(lambda: engine_info(address, timeout=120, cancel=lambda: flag[0]), within=10),
                      Cancelled)


def test_nothing_listening_is_unreachable():
    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = finishes(lambda: engine_info(f"tcp://127.0.0.1:{port}", timeout=1), within=30)
    assert isinstance(err, ConnectionError) and "could not reach the Dask scheduler" in str(err)


def test_a_silent_service_from_a_thread_whose_event_loop_runs(server):
    """The phase panel asks on the kernel's thread, where an event loop is running: asyncio.run cannot serve."""
    import asyncio

    address = server(None)

    async def in_a_kernel():
        engine_info(address, timeout=1)
    err = finishes(lambda: asyncio.run(in_a_kernel()), within=30)
    assert isinstance(err, ConnectionError) and "did not answer as a Dask scheduler within 1 s" in str(err)
