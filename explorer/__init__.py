"""explorer: interactive labs for looking inside neural networks (saliency, neural codes, loss landscapes).

The core (data, models, capture, train, session) imports no widget code; panels load on demand.
"""
from .capture import capture
from .checkpoints import load_checkpoint, save_checkpoint
from .data import ImageSet, from_arrays, image_folder, load_dataset
from .device import pick_device
from .layers import find_layers, relu_layers
from .models import MLP, SmallCNN, build_model
from .session import Session
from .table import Table
from .train import evaluate, train

__version__ = "0.1.0"

__all__ = ["Session", "capture", "find_layers", "relu_layers", "ImageSet", "from_arrays", "image_folder",
           "load_dataset", "pick_device", "MLP", "SmallCNN", "build_model", "load_checkpoint",
           "save_checkpoint", "evaluate", "train", "Table"]  # and Playground, Tour, open_tour: on first use


def __getattr__(name: str):
    """Playground, Tour and open_tour, loaded on first use (they import ipywidgets and bokeh; the core does not)."""
    if name == "Playground":
        from .panels.playground import Playground

        return Playground
    if name in ("Tour", "open_tour"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'explorer' has no attribute {name!r}")
