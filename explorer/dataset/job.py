"""Whole-dataset runs as Jobs (explorer.jobs), so that a panel runs them through the session's executor with its
engine choice, progress per partition and cancel; the result is read back from the output folder."""
from __future__ import annotations

from pathlib import Path

from .. import jobs
from .codes import load_codes, run_codes
from .saliency import run_saliency, saliency_spec
from .store import load


def engine_name(engine) -> str:
    """An engine as its key part: a joblib backend or address as is, a Dask client by its scheduler, Ray as 'ray'."""
    if engine is None or isinstance(engine, str):
        return engine or "sequential"
    if getattr(engine, "__name__", None) == "ray":
        return "ray"
    return f"dask {getattr(getattr(engine, 'scheduler', None), 'address', None) or type(engine).__name__}"


def saliency_job(model, data, out, engine="sequential", split: str = "test", size: int = 256,
                 overwrite: bool = False, n_jobs: int = 1, **settings) -> jobs.Job:
    """run_saliency as a Job: compute() returns {'table', 'maps' (or None), 'run'} read back from `out`."""
    spec = saliency_spec(**settings)  # bad settings fail here, on the caller's thread

    def compute(model_copy, progress):
        counts = run_saliency(model_copy, data, out, engine, split, size, overwrite, progress, n_jobs, **settings)
        table, arrays = load(out)
        return {"table": table, "maps": arrays.get("maps"), "run": counts}
    return jobs.Job(jobs.key("dataset saliency", str(Path(out)), split, size, engine_name(engine), spec),
                    lambda: jobs.private_copy(model), compute, title=f"{spec['method']} over every {split} image",
                    store=False)


def codes_job(model, data, out, engine="sequential", split: str = "test", layers=None, size: int = 1024,
              overwrite: bool = False, n_jobs: int = 1, **settings) -> jobs.Job:
    """run_codes as a Job: compute() returns {'table', 'codes', 'run'} read back from `out`."""
    def compute(model_copy, progress):
        counts = run_codes(model_copy, data, out, engine, split, layers, size, overwrite=overwrite,
                           progress=progress, n_jobs=n_jobs, **settings)
        table, codes = load_codes(out)
        return {"table": table, "codes": codes, "run": counts}
    return jobs.Job(jobs.key("dataset codes", str(Path(out)), split, layers, size, engine_name(engine), settings),
                    lambda: jobs.private_copy(model), compute, title=f"codes of every {split} input", store=False)
