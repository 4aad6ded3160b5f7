"""The saliency lab's shared choices: image, method, layer(s), class, knobs, overlay, the compared methods."""
from __future__ import annotations

import traitlets as T

from ...saliency import METHODS
from .._view import LabState


class SaliencyState(LabState):
    """What every saliency view reads: one image of a split, a method with its layer(s) and knobs, the class to
    explain, the overlay's alpha and colormap, the compared methods, and the last ranking's rows."""

    split = T.Unicode("test")
    index = T.Int(0)
    method = T.Unicode("Grad-CAM")
    layer = T.Any(None)  # a layer name, or None for a model without spatial maps
    combine = T.Tuple()  # further layers whose normalised maps are averaged with the layer's
    layer_order = T.Tuple()  # every layer offered, in the model's order
    target = T.Unicode("predicted")  # "predicted", "true" or "class"; not a classifier: a kind (saliency.kinds)
    klass = T.Int(0)
    params = T.Dict()  # the chosen method's knobs
    alpha = T.Float(0.5)
    cmap = T.Unicode("jet")
    compared = T.Tuple()
    rows = T.List()  # the ranking table (the trust view merges its metrics with it)
    drawn = T.Any(None)  # the memo key of the map the map view shows (the compare view takes that tile from it)

    def layers(self):
        """The chosen layer, or it and the layers combined with it (a tuple in the model's order)."""
        extra = [n for n in self.combine if n != self.layer]
        if not extra:
            return self.layer
        order = list(self.layer_order)
        return tuple(sorted({self.layer, *extra}, key=order.index))

    def params_of(self, name: str) -> dict:
        """The knobs of a method: the form's for the chosen one, the defaults for others (compared tiles)."""
        return dict(self.params) if name == self.method else {}

    def target_class(self, index: int | None = None) -> int | tuple:
        """The class to explain for an image (the current one by default), checked against the model's classes."""
        i, data = self.index if index is None else index, self.session.data
        if self.session.target is not None:  # not a classifier: (kind, number), or the session's own Target
            return ("given", 0) if not isinstance(self.session.target, str) else (self.target, self.klass)
        if self.target == "predicted":
            return int(self.session.evaluate(self.split).predictions[i])
        if self.target == "true":
            return int(data.labels(self.split)[i])
        if not 0 <= self.klass < data.n_classes:
            raise ValueError(f"class {self.klass} out of range: choose 0..{data.n_classes - 1}")
        return self.klass

    def eval_target(self) -> tuple | None:
        """What the evaluation views score: None for a classifier (each image's predicted class), else the
        (kind, number) of the map view's target, made per image by the jobs (saliency.lab.eval_targets)."""
        return None if self.session.target is None else self.target_class()

    def request(self, name: str, index: int | None = None) -> tuple:
        """What determines one map: (method, layers, knobs, split, image, class)."""
        i = self.index if index is None else index
        layers = self.layers() if METHODS[name].needs_layer else None
        return name, layers, self.params_of(name), self.split, i, self.target_class(i)
