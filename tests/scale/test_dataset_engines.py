"""Whole-dataset jobs on a Dask LocalCluster (2 worker processes) and a local Ray: the local results bit for bit, a
worker killed mid-job resumed from the finished partitions, a worker lacking a module named."""
import os

import numpy as np
import pytest

from explorer import dataset as ds
from explorer.engines import EngineError, map_tasks

pytestmark = pytest.mark.slow
if os.environ.get("CI") != "true":  # CI installs the test extras: there a missing pyarrow fails
    pytest.importorskip("pyarrow")
SALIENCY = dict(method="Grad-CAM", steps=8, size=12)  # 8 partitions of 12 images


@pytest.fixture(scope="module")
def local(small_set, small_cnn, tmp_path_factory):
    """The saliency table and maps and the codes, run in this process."""
    root = tmp_path_factory.mktemp("local")
    ds.run_saliency(small_cnn, small_set, root / "s", **SALIENCY)
    ds.run_codes(small_cnn, small_set, root / "c", size=32)
    return ds.load(root / "s"), ds.load_codes(root / "c")


def same(out_s, out_c, local):
    (table, arrays), (ctable, codes) = ds.load(out_s), ds.load_codes(out_c)
    assert table.equals(local[0][0]), "the saliency table differs from the local one"
    np.testing.assert_array_equal(arrays["maps"], local[0][1]["maps"])
    assert ctable.equals(local[1][0])
    np.testing.assert_array_equal(codes.packed, local[1][1].packed)
    a = ds.analyse_codes(codes, ctable["label"], k=3, n_clusters=4, seed=0, chunk=40)
    b = ds.analyse_codes(local[1][1], local[1][0]["label"], k=3, n_clusters=4, seed=0, chunk=40)
    assert a["knn_accuracy"] == b["knn_accuracy"]
    np.testing.assert_array_equal(a["clusters"], b["clusters"])


def test_dask_jobs_equal_the_local_ones_and_stream(small_set, small_cnn, client, local, tmp_path):
    seen = []
    run = ds.run_saliency(small_cnn, small_set, tmp_path / "s", engine=client,
                          progress=lambda d, t, i: seen.append(i["partition"]), **SALIENCY)
    assert sorted(run["computed"]) == list(range(8)) and seen[0] is None and sorted(seen[1:]) == list(range(8))
    ds.run_codes(small_cnn, small_set, tmp_path / "c", engine=client, size=32)
    same(tmp_path / "s", tmp_path / "c", local)


def test_ray_jobs_equal_the_local_ones(small_set, small_cnn, ray, local, tmp_path):
    ds.run_saliency(small_cnn, small_set, tmp_path / "s", engine=ray, **SALIENCY)
    ds.codes_job(small_cnn, small_set, tmp_path / "c", engine=ray, size=32).run()
    same(tmp_path / "s", tmp_path / "c", local)


def test_a_worker_killed_mid_job_resumes_from_the_finished_partitions(small_set, small_cnn, client, local,
                                                                        tmp_path):
    def kill_a_busy_worker(done, total, info):
        if info["partition"] is not None and not kill_a_busy_worker.done:
            busy = [w for w, keys in client.processing().items() if keys]
            client.run(os._exit, 1, workers=busy[:1], on_error="ignore")
            kill_a_busy_worker.done = True
    kill_a_busy_worker.done = False
    out = tmp_path / "s"
    with pytest.raises(EngineError, match=r"KilledWorker.*partitions are written in .*run it again"):
        ds.run_saliency(small_cnn, small_set, out, engine=client, progress=kill_a_busy_worker, **SALIENCY)
    finished = ds.read_manifest(out)["done"]
    assert 1 <= len(finished) < 8
    client.wait_for_workers(2, timeout=30)  # the nanny restarts the killed worker
    again = ds.run_saliency(small_cnn, small_set, out, engine=client, **SALIENCY)
    assert again["skipped"] == finished and sorted(again["computed"]) == sorted(set(range(8)) - set(finished))
    table, arrays = ds.load(out)
    assert table.equals(local[0][0])
    np.testing.assert_array_equal(arrays["maps"], local[0][1]["maps"])


def test_a_worker_lacking_a_module_is_named(small_set, small_cnn, client, tmp_path):
    work = ds.Work(small_cnn, ds.rows(small_set), ds.saliency_spec())
    with pytest.raises(EngineError, match=r"tcp://127.0.0.1:\d+ \(Python [\d.]+\) cannot import no_such_mod_x"):
        ds.run_partitions(client, ds.saliency.saliency_part, work, tmp_path, "k", {"files": ["table"]},
                          requires=("torch", "explorer", "no_such_mod_x"))
    assert ds.read_manifest(tmp_path)["done"] == []  # nothing ran


def counted(log):
    """An object whose every unpickling appends the unpickling process's id to the file `log` (by value: cloudpickle
    sends these local definitions to any worker)."""
    def rebuild(path):
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        return Box(path)

    class Box:
        def __init__(self, path):
            self.path = path

        def __reduce__(self):
            return rebuild, (self.path,)
    return Box(str(log))


@pytest.mark.parametrize("engine", ["loky", "dask", "ray"])
def test_the_shared_data_is_unpickled_once_per_worker_not_per_task(engine, request, tmp_path):
    def task(shared, item):
        return os.getpid(), type(shared).__name__

    handle = {"loky": "loky", "dask": "client", "ray": "ray"}[engine]
    eng = request.getfixturevalue(handle) if handle != "loky" else "loky"
    out = map_tasks(eng, task, range(8), shared=counted(tmp_path / "log"), n_jobs=2)
    pids = [pid for pid, _ in out]
    loads = (tmp_path / "log").read_text().split()
    assert {name for _, name in out} == {"Box"}
    assert {str(p) for p in pids} <= set(loads)  # every process that ran a task read the data itself
    if engine == "dask":
        # Dask's own broadcast (scatter + replicate): once per worker when run alone, but in the full suite, on a
        # cluster that had a worker killed and restarted earlier, one worker once received it twice (3 for 2
        # workers): Dask's delivery, not per task as loky and Ray were
        assert len(loads) < len(pids), f"{len(loads)} unpicklings for {len(pids)} tasks: per task"
    else:
        assert sorted(loads) == sorted({str(p) for p in pids}), \
            f"{len(loads)} unpicklings for 8 tasks on {len(set(pids))} workers: once per worker expected"
