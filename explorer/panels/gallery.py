"""Gallery panel: sample images of a split with the model's predictions and the accuracy."""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from .._html import text
from ._common import ErrorLine, fitted_png, guarded, replace_children
from ._view import LabState, View


class GalleryPanel(View):
    """A grid of test images captioned 'prediction (truth)', wrong ones in red, and the split's accuracy; drawn
    again when the weights change."""

    cheap = True

    def __init__(self, session, n: int = 24, split: str = "test", seed: int = 0):
        self.n, self.seed = n, seed
        self.split = W.ToggleButtons(options=list(session.data.x), value=split, description="split",
                                    style={"description_width": "initial", "button_width": "64px"})
        self.summary = W.HTML()
        self.grid = W.GridBox(layout=W.Layout(grid_template_columns="repeat(8, 104px)", grid_gap="4px"))
        error = ErrorLine()
        self.split.observe(self.refresh, names="value")
        super().__init__(LabState(session), error, [W.HBox([self.split, self.summary]), error, self.grid])
        self.add_class("explorer-gallery")
        self.refresh()

    def recompute(self, change=None) -> None:
        """New weights: the predictions again."""
        self.refresh()

    def indices(self) -> np.ndarray:
        """A seeded sample of image indices from the split."""
        total = len(self.session.data.labels(self.split.value))
        return np.sort(np.random.default_rng(self.seed).choice(total, size=min(self.n, total), replace=False))

    @guarded
    def refresh(self, change=None) -> None:
        """Evaluate (memoised) and redraw the grid and the accuracy."""
        split, data = self.split.value, self.session.data
        ev = self.session.evaluate(split)
        idx = self.indices()
        imgs = data.display(split, idx)  # the photos (an image folder's display_size), not the model's input
        cells = []
        for i, img in zip(idx, imgs):
            pred, true = int(ev.predictions[i]), int(data.labels(split)[i])
            colour = "#1b7f3a" if pred == true else "#b00020"
            cap = W.HTML(f"<span style='color:{colour}' title='image {i}'>{text(data.classes[pred])} "
                         f"({text(data.classes[true])}) {float(ev.probabilities[i, pred]):.2f}</span>")
            cells.append(W.VBox([W.Image(value=fitted_png(img), format="png"), cap],
                                layout=W.Layout(align_items="center")))
        replace_children(self.grid, cells)  # the old cells are closed, not left in the kernel
        self.drawn()
        self.summary.value = (f"<b>{split} accuracy {ev.accuracy:.1%}</b>, loss {ev.loss:.3f} "
                              f"on {len(data.labels(split))} images")
