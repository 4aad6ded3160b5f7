"""The codes map's colourings: an integer code per point, the palette and the legend key of each code."""
from __future__ import annotations

import numpy as np

from ...codes import session_codes

COLOURINGS = ("label", "prediction", "correct", "cluster")
RIGHT_WRONG = ("#D55E00", "#0072B2")  # wrong, correct: Okabe-Ito vermillion and blue, told apart by colour-blind eyes
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def colouring(s, split: str, idx: np.ndarray, how: str, layers) -> tuple[np.ndarray, list, list, np.ndarray,
                                                                          np.ndarray]:
    """(codes, palette, keys, labels, predictions) of the points idx of split, coloured by `how`."""
    y = s.data.labels(split).numpy()[idx]
    pred = s.evaluate(split).predictions.numpy()[idx]
    if how == "correct":
        return (pred == y).astype(np.uint8), list(RIGHT_WRONG), ["wrong", "correct"], y, pred
    if how == "cluster":
        from ...codes import kmeans_labels

        values = s.memo(("codes-clusters", layers, split),
                        lambda: kmeans_labels(session_codes(s, layers, split).bits()))[idx]
        keys = [f"cluster {k}" for k in range(int(values.max(initial=0)) + 1)]
    else:
        values = y if how == "label" else pred
        keys = list(s.data.classes)
    keys = keys or ["none"]
    small = np.uint8 if len(keys) <= 256 else np.int32  # a byte per point in the page's binary buffer
    return np.asarray(values).astype(small), [PALETTE[k % len(PALETTE)] for k in range(len(keys))], keys, y, pred


def legend(mapper, legend, glyph, codes: np.ndarray, palette: list, keys: list) -> None:
    """A bokeh colour mapper's palette and one legend entry per colour present (drawn with one of its points)."""
    from bokeh.models import LegendItem

    mapper.update(palette=palette, low=-0.5, high=len(palette) - 0.5)
    present, first = np.unique(codes, return_index=True)
    legend.items = [LegendItem(label=str(keys[int(c)]), renderers=[glyph], index=int(i))
                    for c, i in zip(present, first)]
