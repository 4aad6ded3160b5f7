"""Neural codes panel: determinism and categorization metrics, a map of the codes, selections, training time."""
from __future__ import annotations

import base64
import contextlib
import copy
import html

import ipywidgets as W
import numpy as np

from ..capture import relu_layers
from ..codes import (
    METHODS,
    knn_accuracy,
    lab,
    over_training,
    redundancy,
    session_codes,
    session_determinism,
    session_local_complexity,
)
from ..codes.lab import map_bits, map_indices, map_key
from ..data import to_uint8
from ..table import Table
from ._common import ErrorLine, Progress, Worker, display_scale, guarded, load_bokeh, png
from .export import Export, bokeh_html

COLOURINGS = ("label", "prediction", "correct", "cluster")
ALL = "all"  # the layer menu's value for every ReLU-like layer
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def table(rows: list[dict]) -> str:
    """An HTML table of dict rows (floats to 3 decimals)."""
    return Table(rows).to_html()


class CodesPanel(W.VBox):
    """Codes of the chosen ReLU layers: redundancy and k-NN, a 2-D map coloured by label/prediction/correctness/
    cluster with the image on hover, box/lasso selection with the selected images, and a training-time slider."""

    def __init__(self, session, max_points: int = 3000, seed: int = 0):
        self.session, self.max_points, self.seed = session, max_points, seed
        # a string for "all": a None value would read as "nothing selected" (a blank menu in the browser)
        self.layer = W.Dropdown(options=[("all ReLU layers", ALL)] + [(n, n) for n in relu_layers(session.model)],
                                description="layers")
        self.split = W.ToggleButtons(options=list(session.data.x), value="test", description="split",
                                     style={"button_width": "64px"})
        self.method = W.Dropdown(options=METHODS, value="PCA", description="map")
        self.colour = W.Dropdown(options=COLOURINGS, value="label", description="colour")
        epochs = [e for e, _ in session.history.checkpoints]
        self.epoch = W.SelectionSlider(options=[("now", -1)] + [(str(e), i) for i, e in enumerate(epochs)],
                                       value=-1, description="epoch", continuous_update=False,
                                       layout=W.Layout(display="flex" if epochs else "none"))
        self.busy = W.HTML()
        self.metrics = W.HTML()
        self.more = W.Button(description="K-Means and LR table", tooltip="slow: K-Means and logistic regression")
        self.categorization = W.HTML()
        self.lc_button = W.Button(description="local complexity", tooltip="units whose sign changes within radius r")
        self.radius = W.FloatLogSlider(value=0.1, base=10, min=-3, max=1, description="radius r",
                                       continuous_update=False)
        self.lc = W.HTML()
        self.history_button = W.Button(description="over training", tooltip="redundancy and k-NN per checkpoint",
                                       layout=W.Layout(display="flex" if epochs else "none"))
        self.selection = W.HTML()
        self.thumbs = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self.error = ErrorLine()
        self.tables_: dict[str, list] = {}  # name -> rows, for export
        self._sessions: dict = {}
        self.map_ = None
        self.worker = Worker()  # t-SNE and UMAP take seconds: off the kernel's thread, the newest request wins
        self.slow = Worker()  # the categorization and over-training tables (tens of seconds), likewise
        self.table_progress = Progress("tables")
        self.source, self.plot = self._figure()
        for w, fn in ((self.layer, self._recompute), (self.split, self._recompute), (self.method, self._recompute),
                      (self.epoch, self._recompute), (self.colour, self._redraw)):
            w.observe(fn, names="value")
        self.more.on_click(self._categorize)
        self.lc_button.on_click(self._local_complexity)
        self.history_button.on_click(self._over_training)
        from .phase import PhasePanel

        controls = W.VBox([W.HBox([self.layer, self.split]), W.HBox([self.method, self.colour])])
        self.phase = PhasePanel(session)
        self.export = Export("codes", lambda: {
            "map.html": bokeh_html(self.plot_figure, "neural codes map"),
            **{f"{k}.csv": Table(v).to_csv() for k, v in self.tables_.items()}})
        tabs = W.Tab([W.VBox([self.metrics, self.plot, self.selection, self.thumbs]),
                      W.VBox([W.HBox([self.more, self.history_button]), self.table_progress, self.categorization]),
                      W.VBox([W.HBox([self.lc_button, self.radius]), self.lc]),
                      self.phase])
        for i, t in enumerate(("codes and map", "categorization", "local complexity", "phase chart")):
            tabs.set_title(i, t)
        super().__init__([controls, self.epoch, self.error, self.busy, tabs, self.export])
        self.add_class("explorer-codes")
        self._recompute()

    def layers(self):
        """The chosen ReLU layer's name, or None for all of them (the core's default)."""
        return None if self.layer.value == ALL else self.layer.value

    def view(self):
        """The session being looked at: the user's, or a copy of the model at the chosen checkpoint."""
        i = self.epoch.value
        if i < 0:
            return self.session
        key = (id(self.session.history), i)  # a new training run brings new checkpoints
        if key not in self._sessions:
            from ..session import Session

            model = copy.deepcopy(self.session.model)  # never load a checkpoint into the user's model
            model.load_state_dict(self.session.history.checkpoints[i][1])
            self._sessions[key] = Session(model, self.session.data)
        return self._sessions[key]

    def _figure(self):
        """A bokeh scatter with image hover and box/lasso selection, wrapped for ipywidgets."""
        from bokeh.models import ColumnDataSource, HoverTool
        from bokeh.plotting import figure
        from jupyter_bokeh import BokehModel

        load_bokeh()
        source = ColumnDataSource({k: [] for k in ("x", "y", "colour", "key", "label", "prediction", "index",
                                                   "image")})
        fig = figure(width=560, height=440, tools="pan,wheel_zoom,box_select,lasso_select,reset",
                     output_backend="webgl", title="codes")
        fig.scatter("x", "y", source=source, color="colour", size=6, alpha=0.8, legend_field="key")
        fig.add_layout(fig.legend[0], "right")  # beside the map, not over its points
        fig.legend[0].label_text_font_size = "9pt"
        fig.add_tools(HoverTool(tooltips="<div><img src='@image' width='56'><br>#@index: label @label, "
                                         "predicted @prediction</div>"))
        source.selected.on_change("indices", lambda attr, old, new: self._select(new))
        self.plot_figure = fig
        return source, BokehModel(fig)

    def indices(self) -> np.ndarray:
        """The (seeded) sample of the split drawn on the map."""
        return map_indices(len(self.session.data.labels(self.split.value)), self.max_points, self.seed)

    @guarded
    def _recompute(self, change=None) -> None:
        """Codes, metrics and the map (memoised in the session): on layer, split, method or epoch change."""
        s, layers, split, method = self.view(), self.layers(), self.split.value, self.method.value
        with self._working("computing codes"):
            rows = session_determinism(s, layers)
            tr, te = session_codes(s, layers, "train"), session_codes(s, layers, "test")
            knn = s.memo(("codes-knn", layers), lambda: knn_accuracy(
                tr, s.data.labels("train").numpy(), te, s.data.labels("test").numpy(), device=s.device))
            self.tables_ = {"determinism": rows}
            self.metrics.value = (f"<b>{tr.n_bits} bits</b>; 9-NN (Hamming) test accuracy <b>{knn:.3f}</b>; "
                                  "<i>redundancy ratio</i> = (N &minus; unique codes) / N (the paper's); "
                                  "<i>share sharing a code</i> = inputs whose code another input also has"
                                  + table(rows))
            self.categorization.value = self.lc.value = ""
            self.slow.generation += 1  # a table still computing for the old choice would be stale
        self.source.selected.indices = []  # indices of the old map mean other inputs now
        seed = self.seed

        def start():
            self.map_ = None  # the old map is of other codes: never drawn while the new one computes
            self.source.data = {k: [] for k in self.source.data}
            self.busy.value = f"<i>computing the {html.escape(method)} map&hellip;</i>"
            # the codes now, on the kernel's thread (the model runs only here); the thread embeds bits
            bits = map_bits(s, layers, split, seed, self.max_points)
            return lambda: lab.embed(bits, method, seed)
        self.worker.cached(s, map_key(s, layers, split, method, seed, self.max_points), start, self._show_map,
                           self._map_failed)

    @guarded
    def _show_map(self, xy) -> None:
        """Draw a newly computed (or stored) map."""
        self.busy.value = ""
        self.map_ = xy
        self._redraw()

    def _map_failed(self, err) -> None:
        self.busy.value = ""
        self.error.show(err)

    def _colours(self) -> tuple[list, list, np.ndarray, np.ndarray]:
        """Colours of the drawn points, their legend keys, labels and predictions."""
        s, split, idx = self.view(), self.split.value, self.indices()
        y = s.data.labels(split).numpy()[idx]
        pred = s.evaluate(split).predictions.numpy()[idx]
        how = self.colour.value
        if how == "correct":
            ok = pred == y
            return [PALETTE[2] if o else PALETTE[3] for o in ok], ["correct" if o else "wrong" for o in ok], y, pred
        if how == "cluster":
            from ..codes import kmeans_labels

            values = s.memo(("codes-clusters", self.layers(), split),
                            lambda: kmeans_labels(session_codes(s, self.layers(), split).bits()))[idx]
            keys = [f"cluster {int(v)}" for v in values]
        else:
            values = y if how == "label" else pred
            keys = [s.data.classes[int(v)] for v in values]
        return [PALETTE[int(v) % len(PALETTE)] for v in values], keys, y, pred

    def _images(self) -> list[str]:
        """base64 PNG data URLs of the drawn images (memoised per split)."""
        split, idx = self.split.value, self.indices()

        def encode():
            imgs = to_uint8(self.session.data.images(split)[idx])
            scale = display_scale(imgs.shape[1], 56)
            return ["data:image/png;base64," + base64.b64encode(png(im, scale)).decode() for im in imgs]
        return self.session.memo(("codes-thumbnails", split, self.max_points, self.seed), encode)

    @guarded
    def _redraw(self, change=None) -> None:
        """Recolour the existing map (no recomputation of the embedding)."""
        if self.map_ is None:
            return
        colours, keys, y, pred = self._colours()
        self.source.data = {"x": self.map_[:, 0], "y": self.map_[:, 1], "colour": colours, "key": keys, "label": y,
                            "prediction": pred, "index": self.indices(), "image": self._images()}

    @guarded
    def _select(self, points) -> None:
        """Show the selected images and their codes' statistics."""
        if not len(points):
            self.selection.value, self.thumbs.children = "", ()
            return
        s, split = self.view(), self.split.value
        idx = self.indices()[np.asarray(points)]
        codes = session_codes(s, self.layers(), split)
        bits = codes.bits()[idx]
        labels = np.bincount(s.data.labels(split).numpy()[idx], minlength=s.data.n_classes)
        r = redundancy(bits)
        d = (bits[:, None, :] != bits[None, :200]).sum(-1).mean() if len(bits) > 1 else 0.0
        self.selection.value = (f"<b>{len(idx)} selected</b>: {r['unique codes']} unique codes (redundancy ratio "
                                f"{r['redundancy ratio']:.3f}), {bits.mean():.1%} of bits on, mean Hamming distance "
                                f"{d:.1f} of {codes.n_bits}; labels " + ", ".join(
                                    f"{s.data.classes[c]}: {n}" for c, n in enumerate(labels) if n))
        imgs = self._images()
        self.thumbs.children = [W.HTML(f"<img src='{imgs[int(j)]}' title='#{self.indices()[int(j)]}'>")
                                for j in np.asarray(points)[:32]]

    @contextlib.contextmanager
    def _working(self, what: str):
        """Show what is being computed for the duration of the block."""
        self.busy.value = f"<i>{what}&hellip;</i>"
        try:
            yield
        finally:
            self.busy.value = ""

    def _table_progress(self, done, total, info) -> None:
        """Progress of a table computed on the worker's thread, drawn on the kernel's."""
        self.slow.call(self.table_progress, done, total, info)

    def _table_failed(self, err) -> None:
        self.table_progress.label.value = "failed"
        self.error.show(err)

    @guarded
    def _categorize(self, button=None) -> None:
        """The slow table: k-NN, logistic regression and K-Means on codes, pixels and activations (on a thread;
        the codes and activations are computed here first, so the thread never runs the model)."""
        s, layers = self.view(), self.layers()

        def start():
            feats, ytr, yte = lab.categorization_features(s, layers)
            self.table_progress(0, len(feats), {"fitting": "K-Means and logistic regression"})
            device = s.device
            return lambda: lab.categorization(feats, ytr, yte, device=device, progress=self._table_progress)
        self.slow.cached(s, lab.categorization_key(s, layers), start, self._show_categorization, self._table_failed)

    @guarded
    def _show_categorization(self, rows) -> None:
        self.tables_["categorization"] = rows
        self.categorization.value = ("K-Means: <i>purity</i> is the paper's 'accuracy'; <i>Hungarian</i> "
                                     "matches clusters to labels one to one" + table(rows))

    @guarded
    def _local_complexity(self, button=None) -> None:
        """Mean local complexity (Humayun et al. 2024) per layer, train and test, at the chosen radius."""
        with self._working("probing cross-polytopes around the inputs"):
            rows = [{"split": split, **{k: float(v.mean()) for k, v in session_local_complexity(
                self.view(), self.layers(), split, self.radius.value).items()}} for split in ("train", "test")]
        self.tables_["local-complexity"] = rows
        self.lc.value = (f"Local complexity: mean number of units whose sign changes over a cross-polytope of "
                         f"radius {self.radius.value:.3g} (20 vertices) around each input" + table(rows))

    @guarded
    def _over_training(self, button=None) -> None:
        """Redundancy and k-NN accuracy at every checkpoint (on a thread, with a copy of the model made here)."""
        from ..session import Session

        s, layers, radius = self.session, self.layers(), self.radius.value

        def start():
            twin = Session(copy.deepcopy(s.model), s.data, s.history)  # the thread's own model; the user's stays
            self.table_progress(0, len(s.history.checkpoints), {"encoding": "checkpoints"})
            return lambda: over_training(twin, layers, radius=radius, progress=self._table_progress)
        self.slow.cached(s, lab.over_training_key(s, layers, radius=radius), start,
                         lambda rows: self._show_over_training(rows, radius), self._table_failed)

    @guarded
    def _show_over_training(self, rows, radius) -> None:
        self.tables_["over-training"] = rows
        self.categorization.value = (f"Over training (local complexity at radius {radius:.3g}, 256 inputs per "
                                     "split)" + table(rows))
