"""The tour's file bar: save the tour to a file, open one, export the static HTML report (explorer.panels.tourfile)."""
from __future__ import annotations

import ipywidgets as W


class Files(W.VBox):
    """The tour's file bar: a file name, save, open and export buttons, and a line saying what was done."""

    def __init__(self, tour):
        self.tour = tour
        self.path = W.Text(value="tour.pt", description="tour file", layout=W.Layout(width="320px"))
        self.html = W.Text(value="tour.html", description="report", layout=W.Layout(width="320px"))
        self.buttons = [W.Button(description=d, icon=i, layout=W.Layout(width="auto")) for d, i in
                        (("save tour", "save"), ("open tour", "folder-open"), ("export HTML", "file-code-o"))]
        for b, fn in zip(self.buttons, (lambda: tour.save(self.path.value), lambda: tour.restore(self.path.value),
                                        lambda: tour.export_html(self.html.value))):
            b.on_click(lambda _, fn=fn: self.run(fn))
        self.said = W.HTML()
        super().__init__([W.HBox([self.path, *self.buttons[:2], self.html, self.buttons[2]]), self.said])

    def run(self, fn) -> None:
        """A button's action; its error shown in the tour's error line."""
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - shown to the user, never swallowed silently
            self.tour.error.show(err)
        else:
            self.tour.error.clear()
