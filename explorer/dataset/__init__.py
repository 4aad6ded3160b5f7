"""Whole-dataset jobs: saliency metrics and activation codes of every image, partitioned over an engine (joblib, Dask,
Ray), written per partition to an output folder (Parquet tables, .npy arrays, a manifest), resumable, read back."""
from .cka import load_cka, run_cka
from .codes import analyse_codes, load_codes, run_codes
from .job import codes_job, engine_name, saliency_job
from .runner import Work, run_partitions
from .saliency import run_saliency, saliency_spec
from .source import Rows, fingerprint, partitions, rows
from .store import load, read_manifest

__all__ = ["analyse_codes", "load_codes", "run_codes", "Work", "run_partitions", "run_saliency", "saliency_spec",
           "Rows", "fingerprint", "partitions", "rows", "load", "read_manifest",
           "codes_job", "engine_name", "saliency_job", "load_cka", "run_cka"]
