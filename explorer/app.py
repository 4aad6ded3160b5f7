"""The app layer: the tour/dashboard that picks data and model, trains, and hosts the labs in tabs."""
from __future__ import annotations

import importlib

import ipywidgets as W

from ._html import text
from .data import DATASETS, data_root, source_options
from .executor import kernel_loop
from .models import BUILTIN, model_name
from .panels import report, tourfile
from .panels._common import ErrorLine, close_tree, guarded, load_bokeh
from .panels._jobbar import JobBar
from .panels.filebar import Files
from .session import Session

# Tab title -> "module:Panel"; a panel is built the first time its tab is shown, on the current session.
LABS = {
    "Gallery": "explorer.panels.gallery:GalleryPanel",
    "Saliency": "explorer.panels.saliency:SaliencyPanel",
    "Neural codes": "explorer.panels.codes:CodesPanel",
    "Loss landscape": "explorer.panels.landscape:LandscapePanel",
    "Geometry": "explorer.panels.geometry:GeometryPanel",
    "Whole dataset": "explorer.panels.dataset:DatasetPanel",
}
MODELS = ("cnn", "mlp", "resnet18")


class _TrainingBar:
    """The Tour's progress bar for a training job, which also hears that a cancel ended it."""

    def __init__(self, tour):
        self.tour, self.bar = tour, tour.progress

    def __call__(self, done, total, info=None):
        self.bar(done, total, info)

    def start(self, *args):
        self.bar.start(*args)

    def refuse(self, err):
        self.bar.refuse(err)

    def finish(self, how: str = ""):
        self.bar.finish(how)
        if how == "cancelled":
            self.tour._cancelled()


def load_panel(spec: str):
    """The panel class named by 'module:Class'."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class Tour(W.VBox):
    """Pick a dataset and a model, train with a live progress bar, then explore the labs in tabs."""

    def __init__(self, dataset: str = "digits", model: str = "cnn", epochs: int = 15, seed: int = 0,
                 device: str | None = None, labs: dict | None = None):
        load_bokeh()  # now, in this cell's output: the labs' plots are built later, from tab clicks
        self.device, self.labs = device, dict(labs or LABS)
        self.session: Session | None = None
        self.dataset = W.Dropdown(options=list(DATASETS), value=dataset, description="dataset")
        self.model = W.Dropdown(options=list(MODELS), value=model, description="model")
        self.epochs = W.IntSlider(value=epochs, min=0, max=100, description="epochs", continuous_update=False)
        self.seed = W.IntText(value=seed, description="seed", layout=W.Layout(width="160px"))
        # MNIST, Fashion-MNIST, CIFAR-10: read from a folder in torchvision's layout; downloaded only when ticked
        self.root = W.Text(value="", placeholder=str(data_root()), description="data folder",
                           layout=W.Layout(width="420px"))
        self.download = W.Checkbox(value=False, description="download if missing (needs network)", indent=False,
                                   layout=W.Layout(width="auto"))
        self.pretrained = W.Checkbox(value=False, description="pretrained weights (downloads once)", indent=False,
                                     layout=W.Layout(width="auto"))  # torchvision models; random weights otherwise
        self.train_button = W.Button(description="Train", button_style="primary", icon="play")
        self.progress = JobBar("training")  # estimate of the time left; cancel stops the training job
        self.training_: Session | None = None  # the session whose training runs now
        self.status = W.HTML("Choose a dataset and a model, then press <b>Train</b>.")
        self.shown_status = ""  # the status of the session the labs show while a new one trains
        self.error = ErrorLine()
        self.tabs = W.Tab()
        self.opened_ = None  # (session, what Train opened it from: dataset, options, model, seed) for save()
        self.restored_ = None  # what the last restore() did (tourfile.Restored)
        self.files = Files(self)
        self.train_button.on_click(lambda _: self.train())
        self.progress.cancel.on_click(lambda _: self.cancel())
        self.tabs.observe(self._show_tab, names="selected_index")
        for w in (self.dataset, self.model):
            w.observe(self._show_data_options, names="value")
        self._show_data_options()
        # the pickers name the data and model Train would open: hidden while a session of your own is shown
        self.pickers = W.VBox([W.HBox([self.dataset, self.model, self.pretrained]), W.HBox([self.root, self.download]),
                               W.HBox([self.epochs, self.seed, self.train_button])])
        self.pick = W.Button(description="pick a dataset and model", icon="list",
                             layout=W.Layout(width="auto", display="none"))
        self.pick.on_click(lambda _: self._show_pickers(True))
        super().__init__([self.pickers, self.pick, self.progress, self.status, self.error, self.files,
                          self.tabs])
        self.add_class("explorer-tour")

    @guarded
    def train(self) -> Session | None:
        """The Train button: open a session on the chosen data and model (here: it reads files and builds the
        model), then train it as a job of that session (off the kernel's thread in a kernel, here and now in a
        script); the labs show the previous session until it is done. Returns the session trained here and now."""
        self.train_button.disabled = True
        shown = self.status.value  # the session the labs show until the new one is trained
        try:
            session = self._open()
        except BaseException:
            self.train_button.disabled = False
            self.status.value = shown
            raise
        self.shown_status, self.training_ = shown, session
        self.status.value = (f"training {text(self.model.value)} on {text(self.dataset.value)} for "
                             f"{self.epochs.value} epochs"
                             + (" (the labs below show the previous model until it is done)" if shown else ""))
        session.submit(session.train_job(self.epochs.value, self.seed.value), lambda h: self._trained(session),
                       lambda err: self._trained(session, err), _TrainingBar(self), owner=self)
        return self.session if self.session is session else None

    start = train  # the button's handler (kept under its old name)

    @guarded
    def _trained(self, session: Session, err=None) -> None:
        """The training ended: the trained session shown, or the error said (the labs keep the previous session;
        a cancel ends here with nothing said)."""
        self.train_button.disabled, self.training_ = False, None
        if err is not None:
            self.status.value = self.shown_status
            raise err
        self.use(session, picked=True)

    def cancel(self) -> None:
        """Stop a training in progress at its next batch (the labs keep the previous session)."""
        if self.training_ is not None:
            self.training_.jobs().cancel(self)

    def _cancelled(self) -> None:
        """The training stopped on a cancel: the status line of the session the labs still show."""
        self.train_button.disabled, self.training_ = False, None
        self.status.value = self.shown_status

    def _open(self) -> Session:
        """A new session on the chosen data and model (reads files, builds the model; no training)."""
        self.status.value = f"loading {text(self.dataset.value)} and building {text(self.model.value)} ..."
        given = {"root": self.root.value.strip() or None, "download": self.download.value}
        kwargs = {k: v for k, v in given.items() if k in source_options(self.dataset.value)}
        try:
            extra = {"pretrained": True} if self.pretrained.value and self.model.value not in BUILTIN else {}
            session = Session.open(self.dataset.value, self.model.value, device=self.device,
                                   seed=self.seed.value, data_kwargs=kwargs, **extra)
            self.opened_ = (session, {"dataset": self.dataset.value, "options": kwargs, "model": self.model.value,
                                      "seed": self.seed.value})
            return session
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err}. Here: fill in 'data folder', or tick 'download if missing'") from err
        except ConnectionError as err:
            raise ConnectionError(f"{err}. Here: untick the download and use the files or weights you have, "
                                  "or the bundled digits") from err

    def _show_data_options(self, change=None) -> None:
        """The folder and download choices where the dataset takes them (the torchvision sets), pretrained weights
        for the torchvision models only."""
        options = source_options(self.dataset.value)
        self.root.layout.display = "" if "root" in options else "none"
        self.download.layout.display = "" if "download" in options else "none"
        self.pretrained.layout.display = "none" if self.model.value in BUILTIN else ""

    def _show_pickers(self, shown: bool) -> None:
        """The dataset, model and training controls, or (hidden) a button that shows them again."""
        self.pickers.layout.display = "" if shown else "none"
        self.pick.layout.display = "none" if shown else ""

    @guarded
    def use(self, session: Session, picked: bool = False) -> None:
        """Show a session (e.g. your own model and data): status line and freshly built lab tabs. Unless it was
        `picked` with this tour's controls (Train), they are hidden: they would name data and a model not shown."""
        session.check()
        self.session = session
        self._show_pickers(picked)
        acc = session.evaluate("test").accuracy
        n = sum(p.numel() for p in session.model.parameters())
        self.status.value = (f"<b>{text(model_name(session.model))}</b> ({n:,} parameters) on "
                             f"<b>{text(session.device)}</b>, data <b>{text(session.data.name)}</b>, "
                             f"test accuracy <b class='explorer-accuracy'>{acc:.1%}</b>")
        old = self.tabs.children
        self.tabs.children = [W.VBox() for _ in self.labs]
        for page in old:  # the previous session's panels: closed, or they live on in the kernel and the page
            close_tree(page)
        for i, title in enumerate(self.labs):
            self.tabs.set_title(i, title)
        self.tabs.selected_index = 0
        self._show_tab()

    @guarded
    def _show_tab(self, change=None) -> None:
        """Build the selected lab's panel on the current session, once."""
        i = self.tabs.selected_index
        if self.session is None or i is None or self.tabs.children[i].children:
            return
        spec = list(self.labs.values())[i]
        self.tabs.children[i].children = [load_panel(spec)(self.session)]

    def save(self, path) -> None:
        """Save the session shown (weights, data reference, training history) and every open lab's choices and
        results to one file (explorer.tourfile); open it again with open_tour(path)."""
        tourfile.save(self, path)
        self.files.said.value = f"saved the tour to <code>{text(path)}</code>"

    def export_html(self, path) -> None:
        """Write a static HTML report of the open labs (pictures, plots, tables, choices) that opens offline."""
        report.export_html(self, path)
        self.files.said.value = f"wrote the report <code>{text(path)}</code> (opens in a browser, no kernel)"

    def restore(self, path, model=None, data=None):
        """Show the tour saved in path: its weights and data, every lab it had open with the same choices; views
        compute their results again (returns tourfile.Restored: what could not be set or must be asked again,
        and, outside a kernel, where the numbers differ from the saved ones)."""
        meta = tourfile.read(path)
        session = tourfile.session(path, meta, model, data, self.device)
        session.check()  # here, raised: use() would only show it
        tourfile.apply(self.pickers, meta["tour"]["pickers"])
        self.use(session, picked=meta["tour"]["picked"])
        if meta["tour"]["picked"]:
            d, a = meta["data"], meta["architecture"]
            self.opened_ = (session, {"dataset": d["dataset"], "options": d["options"], "model": a["name"],
                                      "seed": a["seed"]})
        done = self.restored_ = tourfile.restore_labs(self, meta, now=kernel_loop() is None)
        notes = [f"opened <code>{text(path)}</code> (saved {text(meta['saved'])})"]
        if done.differences is None:
            notes.append("the labs compute their results again: tour.restored_.check(tour) compares them with the "
                         "saved ones once they are drawn")
        else:
            notes.append("the same numbers as saved" if not done.differences else
                         f"{len(done.differences)} results differ from the saved ones: "
                         + text(", ".join(done.differences[:5])))
        notes += [text(p) for p in done.problems] + [f"to see again: {p}" for p in done.press]
        self.files.said.value = "<br>".join(notes)
        return done


def open_tour(path, model=None, data=None, device: str | None = None) -> Tour:
    """A tour in the state saved by Tour.save(path): pass model= (an nn.Module of the same architecture) for a
    model of your own, data= (an ImageSet) when the file holds no data or its folder moved."""
    tour = Tour(device=device)
    tour.restore(path, model, data)
    return tour
