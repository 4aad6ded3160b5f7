"""Playground: a small MLP trained live on 2-D points (toy sets or the user's own), with its exact linear regions
and decision boundary at every few steps. Compute only: no widget import here."""
from .data import TOYS, Points, points, toy
from .lab import ACTIVATIONS, Snapshot, all_points, input_plane, mlp, playground, snapshot, snapshot_job, train_job

__all__ = ["TOYS", "Points", "points", "toy", "ACTIVATIONS", "Snapshot", "all_points", "input_plane", "mlp",
           "playground", "snapshot", "snapshot_job", "train_job"]
