"""Sweeps on Dask (a LocalCluster of 2 worker processes) and Ray: the sequential grid exactly, results streamed,
clear errors for an unreachable scheduler, workers lacking a module and a worker killed mid-sweep."""
import os
import time

import numpy as np
import pytest

from explorer.codes import sweep
from explorer.engines import EngineError, engine_info, kind, map_tasks

pytestmark = pytest.mark.slow
GRID = dict(widths=(2, 8), epochs=(0, 1), sizes=(60, 200), seed=0)


@pytest.fixture(scope="module")
def sequential(digits):
    return sweep(digits, backend="sequential", **GRID)


def same_grid(a, b):
    for key in ("redundancy ratio", "k-NN"):
        np.testing.assert_array_equal(a[key], b[key])
    assert (a["widths"], a["epochs"], a["sizes"]) == (b["widths"], b["epochs"], b["sizes"])


def test_engine_kinds():
    assert [kind(e) for e in (None, "loky", "tcp://10.0.0.1:8786", "auto", "ray://h:10001")] == \
        ["joblib", "joblib", "dask", "ray", "ray"]
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        kind("spark")


def test_dask_sweep_equals_sequential_and_streams(digits, client, sequential):
    cells, steps = [], []
    got = sweep(digits, engine=client, on_result=cells.append, progress=lambda d, t, i: steps.append((d, t)), **GRID)
    same_grid(got, sequential)
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted((c["width"], c["size"]) for c in cells) == [(2, 60), (2, 200), (8, 60), (8, 200)]
    for c in cells:  # every streamed cell is the final grid's cell
        i, j = GRID["widths"].index(c["width"]), GRID["sizes"].index(c["size"])
        np.testing.assert_array_equal(c["k-NN"], sequential["k-NN"][i, :, j])
    info = engine_info(client)
    assert info["engine"] == "dask" and info["workers"] == 2 and info["threads"] == 2
    assert info["address"].startswith("tcp://")
    assert engine_info(info["address"])["workers"] == 2  # by address: connects, reports, disconnects


def test_unreachable_scheduler_fails_fast(digits):
    pytest.importorskip("distributed")
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"could not reach the Dask scheduler at tcp://127.0.0.1:9 within 2"):
        map_tasks("tcp://127.0.0.1:9", abs, [1], timeout=2)
    assert time.perf_counter() - start < 15


def test_workers_lacking_a_module_are_named(client):
    with pytest.raises(EngineError, match=r"tcp://127.0.0.1:\d+ \(Python [\d.]+\) cannot import no_such_mod_x"):
        map_tasks(client, abs, [1], requires=("torch", "explorer", "no_such_mod_x"))


def test_worker_killed_mid_sweep_keeps_finished_cells(digits, client, sequential):
    def kill_a_busy_worker(cell):
        if not kill_a_busy_worker.done:
            busy = [w for w, keys in client.processing().items() if keys]
            client.run(os._exit, 1, workers=busy[:1], on_error="ignore")
            kill_a_busy_worker.done = True
    kill_a_busy_worker.done = False
    with pytest.raises(EngineError, match=r"sweep stopped: task \d of 4 failed on dask: KilledWorker") as err:
        sweep(digits, engine=client, on_result=kill_a_busy_worker, **GRID)
    part = err.value.partial
    finished = ~np.isnan(part["k-NN"][:, 0, :])
    assert 1 <= finished.sum() < 4  # the first cell, maybe one more; not the killed one
    np.testing.assert_array_equal(part["k-NN"].transpose(0, 2, 1)[finished],
                                  sequential["k-NN"].transpose(0, 2, 1)[finished])
    client.wait_for_workers(2, timeout=30)  # the nanny restarts the killed worker


def test_ray_sweep_equals_sequential(digits, ray, sequential):
    cells = []
    same_grid(sweep(digits, engine=ray, on_result=cells.append, **GRID), sequential)
    assert len(cells) == 4
    info = engine_info(ray)
    assert info["engine"] == "ray" and info["workers"] == 1 and info["threads"] == 2


def test_joblib_failure_keeps_finished_results():
    import operator

    assert map_tasks("sequential", operator.truediv, [1, 2, 4], shared=1.0) == [1.0, 0.5, 0.25]
    with pytest.raises(EngineError, match=r"failed on joblib: ZeroDivisionError.*2 of 4 finished") as err:
        map_tasks("sequential", operator.truediv, [1, 2, 0, 4], shared=1.0)
    assert err.value.partial == {0: 1.0, 1: 0.5}


def test_unreachable_ray_address_fails_fast():
    from explorer.engines import _reachable

    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"could not reach ray://127.0.0.1:9 within 1 s"):
        _reachable("ray://127.0.0.1:9", 1)
    assert time.perf_counter() - start < 5
