"""The image strip: a page of thumbnails captioned 'prediction (truth)'; a click chooses the image."""
from __future__ import annotations

import ipywidgets as W

from .._common import fitted_png, guarded
from .._view import View


class ImageStrip(View):
    """Pages, not a window centred on the image: a move within the page sends nothing to the browser. Captions are
    the current weights' predictions, redrawn when they change."""

    cheap = True

    def __init__(self, state, error, images, n: int = 8):
        self.images = images
        self.cells = [self._thumb() for _ in range(min(n, len(images)))]
        super().__init__(state, error, [W.HBox(self.cells)])
        state.observe(self.recompute, names="index")

    def _thumb(self):
        """One cell, made once: later moves only change its picture and caption."""
        button = W.Button(layout=W.Layout(width="72px"))
        button.on_click(lambda b: setattr(self.state, "index", b.image_index))
        return W.VBox([W.Image(format="png"), button])

    @guarded
    def recompute(self, change=None) -> None:
        """The page holding the current image (captions from the current weights)."""
        st, n = self.state, len(self.cells)
        fresh = not self.current()
        plain = self.session.target is not None  # not a classifier: no predictions to caption with
        ev, data = (None if plain else self.session.evaluate(st.split)), self.session.data
        start = max(0, min(st.index // n * n, len(self.images) - n))
        for i, cell in zip(range(start, len(self.images)), self.cells):
            image, button = cell.children
            if getattr(button, "image_index", None) == i and not fresh:
                continue
            true = int(data.labels(st.split)[i])
            pred = true if plain else int(ev.predictions[i])
            button.image_index, image.value = i, fitted_png(self.images[i], 48)
            with button.hold_sync():  # one message for the three changes
                button.description = f"image {i}" if plain else f"{data.classes[pred]} ({data.classes[true]})"
                button.button_style, button.tooltip = "" if pred == true else "danger", f"image {i}"
        self.drawn()
