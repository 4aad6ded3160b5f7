"""Run independent tasks (one training each) on joblib, a Dask cluster or a Ray cluster; results stream back.

An engine is a joblib backend name ('sequential', 'loky', 'threading', 'multiprocessing'), a
`dask.distributed.Client` (or a Dask cluster object, or a scheduler address 'tcp://host:port'), or Ray: the
initialised `ray` module, 'auto' or a Ray client address 'ray://host:port'. Dask and Ray are imported only here,
only when asked for.
"""
from __future__ import annotations

import contextlib

JOBLIB_BACKENDS = ("sequential", "loky", "threading", "multiprocessing")
REQUIRES = ("torch", "explorer")  # what a worker must import to unpickle and run explorer's tasks

# The probe is compiled here rather than defined at module level: a module-level function would be pickled by
# reference and could not even be unpickled on a worker that lacks explorer, which is what it must report.
_PROBE = """
def probe(names):
    import importlib, platform
    missing = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as err:
            missing[name] = f"{type(err).__name__}: {err}"
    return {"python": platform.python_version(), "missing": missing}
"""


class EngineError(RuntimeError):
    """A worker or task failed, or the engine is unusable; `.partial` holds what finished before (index -> result)."""

    def __init__(self, message: str, partial=None):
        super().__init__(message)
        self.partial = {} if partial is None else partial


def _probe():
    """The probe as a function cloudpickle sends by value (its module is '__main__')."""
    namespace = {"__name__": "__main__"}
    exec(_PROBE, namespace)  # noqa: S102 - a fixed string, see _PROBE
    return namespace["probe"]


def kind(engine) -> str:
    """'joblib', 'dask' or 'ray' for an engine (see the module docstring); ValueError otherwise."""
    if engine is None or engine in JOBLIB_BACKENDS:
        return "joblib"
    if isinstance(engine, str):
        if engine == "auto" or engine.startswith("ray://"):
            return "ray"
        if "://" in engine:
            return "dask"
    elif getattr(engine, "__name__", None) == "ray":
        return "ray"
    elif type(engine).__module__.startswith("distributed") or hasattr(engine, "scheduler_address"):
        return "dask"
    raise ValueError(f"unknown engine {engine!r}: use a joblib backend ({', '.join(JOBLIB_BACKENDS)}), a "
                     f"dask.distributed Client or scheduler address 'tcp://host:port', or Ray ('auto', "
                     f"'ray://host:port' or the initialised ray module)")


def _import(name: str):
    """Dask's or Ray's client library, or an ImportError saying what to install."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        pip = {"distributed": "dask[distributed]", "ray": "ray"}[name]
        raise ImportError(f"this engine needs {name!r} on the kernel's side: pip install '{pip}'") from err


@contextlib.contextmanager
def connect(engine, timeout: float = 5.0, cancel=None):
    """(kind, handle) for an engine; addresses are checked at once, connected here (a clear error within about
    `timeout` s, whatever answers there) and closed on exit. `cancel`: a threading.Event or a callable, checked
    while waiting for an address (jobs.Cancelled when set)."""
    k = kind(engine)
    if k == "joblib":
        yield k, engine or "sequential"
    elif k == "dask":
        distributed = _import("distributed")
        if isinstance(engine, distributed.Client):
            yield k, engine
            return
        if isinstance(engine, str):  # a cluster object holds a live scheduler; an address may be anything
            _check_address(engine, tuple(distributed.comm.registry.backends))
            _dask_handshake(engine, timeout, _stopper(cancel))
        try:  # an address, or a cluster object
            client = distributed.Client(engine, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ConnectionError(f"could not reach the Dask scheduler at {engine} within {timeout:g} s ({err}); "
                                  f"is it running, and is the address right?") from err
        try:
            yield k, client
        finally:
            client.close()
    else:
        if isinstance(engine, str) and engine.startswith("ray://"):
            _check_address(engine, ("ray",))  # before importing ray (seconds)
        ray = _import("ray")
        if not isinstance(engine, str) or ray.is_initialized():
            if not ray.is_initialized():
                raise EngineError("ray is imported but not initialised: call ray.init(...) or pass 'auto' or "
                                  "'ray://host:port'")
            yield k, ray
            return
        if engine.startswith("ray://"):
            _reachable(engine, timeout)  # Ray's client retries an unreachable address for minutes
        try:
            ray.init(address=engine, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, TimeoutError, OSError, RuntimeError) as err:
            raise ConnectionError(f"could not connect to Ray at {engine!r} ({err})") from err
        try:
            yield k, ray
        finally:
            ray.shutdown()


def _stopper(cancel):
    """cancel (an Event, a callable or None) as a callable: True once the caller asked to stop."""
    if cancel is None:
        return lambda: False
    return cancel.is_set if hasattr(cancel, "is_set") else cancel


def _check_address(address: str, schemes: tuple[str, ...]) -> None:
    """ValueError at once for an address that cannot be right: a scheme of `schemes`; for the network ones
    'scheme://host:port' with a host and a port from 1 to 65535."""
    from urllib.parse import urlsplit

    url = urlsplit(address)
    example = "ray://head:10001" if url.scheme == "ray" else "tcp://scheduler:8786"
    if url.scheme not in schemes:
        raise ValueError(f"engine address {address!r}: the scheme must be one of "
                         f"{', '.join(s + '://' for s in schemes)}, e.g. {example}"
                         + ("" if "ray" in schemes else ", or ray://head:10001 for a Ray cluster"))
    if url.scheme not in ("tcp", "tls", "ws", "wss", "ray"):
        return  # inproc:// and others name no host and port
    try:
        port = url.port
    except ValueError as err:  # 'tcp://:abc', 'tcp://host:99999'
        raise ValueError(f"engine address {address!r}: the port must be a number from 1 to 65535 ({err}), e.g. "
                         f"{example}") from err
    if not url.hostname or port is None or port == 0:
        raise ValueError(f"engine address {address!r} needs a host and a port, e.g. {example}")


def _dask_handshake(address: str, timeout: float, stop) -> None:
    """Dask's own connect and handshake with whatever listens at address, given up after `timeout` s or when
    stop() is true: distributed bounds only the TCP connect, and waits for the handshake forever (a silent
    service) or mistakes another protocol's reply for a frame length (an HTTP server: MemoryError)."""
    import asyncio
    import time

    from distributed.comm import connect as dask_connect
    from distributed.utils import LoopRunner

    from .jobs import Cancelled

    outcome: dict = {}

    async def handshake():
        comm = await dask_connect(address, timeout=timeout)
        outcome["answered"] = True
        await comm.close()

    async def bounded():
        task = asyncio.ensure_future(handshake())
        end = time.monotonic() + timeout
        while not task.done() and time.monotonic() < end and not stop():
            await asyncio.wait({task}, timeout=0.05)
        if not task.done():
            task.cancel()
            outcome["stopped" if stop() else "silent"] = True
        elif task.exception() is not None:
            outcome["error"] = task.exception()

    # on distributed's own IO loop, the one its synchronous Client runs on (no thread of explorer's): the caller may
    # be the kernel's thread, whose event loop is already running; bounded() ends by itself within about `timeout`
    try:
        LoopRunner().run_sync(bounded, callback_timeout=timeout + 5)
    except TimeoutError:  # only a backstop: said below as a service that did not answer
        outcome["silent"] = True
    if outcome.get("stopped"):
        raise Cancelled(f"connecting to {address} cancelled")
    err = outcome.get("error")
    if isinstance(err, (OSError, TimeoutError)) and not outcome.get("answered"):
        raise ConnectionError(f"could not reach the Dask scheduler at {address} within {timeout:g} s ({err}); "
                              f"is it running, and is the address right?") from err
    if err is not None:
        raise ConnectionError(f"{address} answered, but not as a Dask scheduler ({type(err).__name__}: "
                              f"{str(err)[:200]}): is this the scheduler's address (usually port 8786), not its "
                              f"dashboard's (8787) or another service's?") from err
    if not outcome.get("answered"):
        raise ConnectionError(f"{address} accepted the connection but did not answer as a Dask scheduler within "
                              f"{timeout:g} s: is this the scheduler's address (usually port 8786), not another "
                              f"service's?")


def _reachable(address: str, timeout: float) -> None:
    """ConnectionError unless something listens at 'scheme://host:port' within `timeout` seconds."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(address)
    try:
        with socket.create_connection((url.hostname, url.port), timeout=timeout):
            pass
    except (OSError, ValueError, TypeError) as err:
        raise ConnectionError(f"could not reach {address} within {timeout:g} s ({err}); is the cluster running, "
                              f"and is the address (host:port) right?") from err


def engine_info(engine, timeout: float = 5.0, cancel=None) -> dict:
    """What an engine is connected to: {'engine', 'address', 'workers', 'threads'} (threads: task slots)."""
    with connect(engine, timeout, cancel) as (k, h):
        if k == "joblib":
            from joblib import effective_n_jobs

            return {"engine": f"joblib ({h})", "address": "this kernel", "workers": effective_n_jobs(),
                    "threads": effective_n_jobs()}
        if k == "dask":
            workers = h.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(h) else \
                h.scheduler_info()["workers"]
            return {"engine": "dask", "address": h.scheduler.address, "workers": len(workers),
                    "threads": sum(w.get("nthreads", 1) for w in workers.values())}
        nodes = [n for n in h.nodes() if n.get("Alive")]
        return {"engine": "ray", "address": h.get_runtime_context().gcs_address, "workers": len(nodes),
                "threads": int(h.cluster_resources().get("CPU", 0))}


def _takes_n_workers(client) -> bool:
    """Newer distributed truncates scheduler_info()'s worker list unless n_workers=-1 is passed."""
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def check_workers(k: str, h, requires=REQUIRES) -> None:
    """EngineError naming each worker (Dask) or node (Ray) that cannot import one of `requires`, and why."""
    if k == "joblib":
        return
    probe, names = _probe(), list(requires)
    if k == "dask":
        reports = h.run(probe, names)
    else:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = h.remote(num_cpus=0)(probe)
        nodes = [n for n in h.nodes() if n.get("Alive")]
        refs = [remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(names) for n in nodes]
        reports = {n.get("NodeManagerAddress", n["NodeID"]): r for n, r in zip(nodes, h.get(refs))}
    bad = {w: r["missing"] for w, r in reports.items() if r["missing"]}
    if bad:
        lines = "; ".join(f"{w} (Python {reports[w]['python']}) cannot import "
                          + ", ".join(f"{m} ({why})" for m, why in miss.items()) for w, miss in bad.items())
        raise EngineError(f"{k} workers lack what the tasks need: {lines}. Install explorer and torch in the "
                          f"workers' environment (the same versions as this kernel's)")


def _call(fn, shared, index, item):
    """One task: (index, fn(shared, item)), so results can arrive in any order; a worker.Shared handle is read
    once per worker process (worker.unpack), and the task runs with malloc's heap kept (worker.heap_kept)."""
    from .worker import Shared, heap_kept, unpack

    if isinstance(shared, Shared):
        shared = unpack(shared)
    with heap_kept():
        return index, fn(shared, item)


def map_tasks(engine, fn, items, shared=None, on_result=None, n_jobs: int = 1, requires=REQUIRES,
              timeout: float = 5.0, cancel=None) -> list:
    """[fn(shared, item) for item in items], each a task on `engine`; on_result(index, result) as each finishes.

    `fn` must be importable on the workers (a module-level function of an installed package); `shared` (the
    data) goes to each worker process once and is kept there for all its tasks (Dask: scattered to every worker;
    Ray: the object store, read once per worker; joblib's process backends: pickled once to a file each worker
    reads once; the kernel's own backends pass it as it is). Before anything runs, each worker is probed
    for `requires`. A lost worker or failed task raises EngineError whose `.partial` maps the indices that
    finished to their results (Dask and Ray first retry tasks of a lost worker, as configured there).
    """
    items = list(items)
    done = {}

    def finished(i, result):
        done[i] = result
        if on_result is not None:
            on_result(i, result)

    with connect(engine, timeout, cancel) as (k, h):
        check_workers(k, h, requires)
        try:
            (_joblib if k == "joblib" else _dask if k == "dask" else _ray)(h, fn, items, shared, finished, n_jobs)
        except _TaskFailed as fail:
            which = "a task" if fail.index is None else f"task {fail.index + 1} of {len(items)}"
            raise EngineError(f"{which} failed on {k}: {type(fail.err).__name__}: {fail.err} ({len(done)} of "
                              f"{len(items)} finished; kept in .partial)", partial=dict(done)) from fail.err
    return [done[i] for i in range(len(items))]


class _TaskFailed(Exception):
    """Task `index` (None: unknown) failed with `err`; map_tasks turns it into an EngineError."""

    def __init__(self, index, err):
        super().__init__(index, err)
        self.index, self.err = index, err


def _joblib(backend, fn, items, shared, finished, n_jobs):
    """joblib, results in the order they finish; for worker processes the data is pickled once, to a file."""
    from joblib import Parallel, cpu_count, delayed

    processes = backend in ("loky", "multiprocessing") and (n_jobs if n_jobs > 0 else cpu_count() + 1 + n_jobs) > 1
    with _shared_file(shared) if processes and shared is not None else contextlib.nullcontext(shared) as data:
        stream = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered")(
            delayed(_call)(fn, data, i, item) for i, item in enumerate(items))
        try:
            for i, result in stream:
                finished(i, result)
        except Exception as err:  # noqa: BLE001 - a dead loky worker (TerminatedWorkerError) or the task's own error
            raise _TaskFailed(None, err) from err


@contextlib.contextmanager
def _shared_file(shared):
    """A worker.Shared naming `shared` pickled once (by loky's own pickler) into a temporary file, by the
    sha256 of its bytes: the same data in a later map is the same token, which a warm worker already holds."""
    import hashlib
    import os
    import pickle
    import tempfile

    from joblib.externals.loky.backend.reduction import dumps

    from .worker import Shared

    data = bytes(dumps(shared, protocol=pickle.HIGHEST_PROTOCOL))
    token = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="explorer-shared-") as tmp:
        path = os.path.join(tmp, f"{token}.pkl")
        with open(path, "wb") as f:
            f.write(data)
        yield Shared(token, path)


def _dask(client, fn, items, shared, finished, n_jobs):
    """Dask: the data scattered once to every worker, one future per item, results as_completed."""
    from distributed import as_completed

    data = client.scatter(shared, broadcast=True, hash=False)
    futures = [client.submit(_call, fn, data, i, item, pure=False) for i, item in enumerate(items)]
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for f in as_completed(futures, loop=client.loop):
            try:  # 'lost': it finished, but its worker died holding the result; the scheduler recomputes it
                result = f.result()
            except Exception as err:  # noqa: BLE001 - the task raised, KilledWorker, or cancelled
                raise _TaskFailed(index[f.key], err) from err
            finished(*result)
    finally:
        client.cancel(futures + [data])


def _ray(ray, fn, items, shared, finished, n_jobs):
    """Ray: the data put in the object store once and read once per worker process (a reference inside a
    worker.Shared is not resolved per task, as a top-level one would be), one task per item, results by ray.wait."""
    from .worker import Shared

    ref = ray.put(shared)
    remote = ray.remote(num_cpus=1)(_call)
    pending = {remote.remote(fn, Shared(ref.hex(), ref), i, item): i for i, item in enumerate(items)}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except Exception as err:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ObjectLostError ...
                raise _TaskFailed(i, err) from err
            finished(*result)
    finally:
        for r in pending:
            ray.cancel(r, force=True)
