"""Whole-dataset jobs panel: saliency metrics or activation codes of every image, on joblib, Dask or Ray."""
from .whole import WholeDatasetView

__all__ = ["WholeDatasetView"]
