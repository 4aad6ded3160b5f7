"""Partitioned whole-dataset runs: one task per index partition on an engine (explorer.engines: joblib, Dask, Ray),
the model and rows sent to each worker once, each partition's files written as it finishes, finished ones skipped."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engines import REQUIRES, EngineError, map_tasks
from ..jobs import Cancelled, no_progress
from .source import Rows, partitions
from .store import open_folder, write_part


@dataclass(eq=False)
class Work:
    """What every task of a job shares, sent to each worker once: the model, the rows and the task's settings."""

    model: Any
    rows: Rows
    params: dict


def run_partitions(engine, task: Callable, work: Work, out, key: str, spec: dict, size: int = 256,
                   overwrite: bool = False, progress=None, n_jobs: int = 1, timeout: float = 5.0,
                   requires=REQUIRES) -> dict:
    """Run task(work, (i, lo, hi)) -> (table, arrays) for every partition not finished in `out`, writing each as it
    arrives; {'computed': [...], 'skipped': [...], 'partitions': n}. A failed or lost task stops the run with an
    EngineError; what finished stays written, and a re-run with the same key computes only the rest. Before any
    task runs, every worker is probed for `requires` (a worker lacking one is named, with the module)."""
    progress = progress or no_progress
    parts = partitions(len(work.rows), size)
    manifest = open_folder(out, key, {**spec, "partitions": parts}, overwrite)
    skipped = sorted(manifest["done"])
    todo = [(i, lo, hi) for i, (lo, hi) in enumerate(parts) if i not in set(skipped)]
    computed = []

    def finished(j, result):
        i = todo[j][0]
        table, arrays = result
        write_part(out, manifest, i, table, arrays)
        computed.append(i)
        progress(len(skipped) + len(computed), len(parts), {"partition": i, "rows": todo[j][2] - todo[j][1]})

    progress(len(skipped), len(parts), {"partition": None})
    if todo:
        try:
            map_tasks(engine, task, todo, shared=work, on_result=finished, n_jobs=n_jobs, timeout=timeout,
                      requires=requires)
        except EngineError as err:
            if isinstance(err.__cause__, Cancelled):  # the progress call raised it while a result was written
                raise err.__cause__ from None
            raise EngineError(f"whole-dataset job stopped: {err}; {len(skipped) + len(computed)} of {len(parts)} "
                              f"partitions are written in {out}: run it again to compute only the rest",
                              partial=err.partial) from err.__cause__
    return {"computed": computed, "skipped": skipped, "partitions": len(parts)}
