"""The app layer: the tour/dashboard that picks data and model, trains, and hosts the labs in tabs."""
from __future__ import annotations

import importlib
import threading
import time

import ipywidgets as W

from ._html import text
from .data import DATASETS, TORCHVISION_SETS, data_root
from .estimates import training
from .jobs import Cancelled
from .models import BUILTIN, model_name
from .panels._common import ErrorLine, _kernel_loop, close_tree, guarded, load_bokeh
from .panels._runner import JobBar
from .session import Session

# Tab title -> "module:Panel"; a panel is built the first time its tab is shown, on the current session.
LABS = {
    "Gallery": "explorer.panels.gallery:GalleryPanel",
    "Saliency": "explorer.panels.saliency:SaliencyPanel",
    "Neural codes": "explorer.panels.codes:CodesPanel",
    "Loss landscape": "explorer.panels.landscape:LandscapePanel",
    "Geometry": "explorer.panels.geometry:GeometryPanel",
}
MODELS = ("cnn", "mlp", "resnet18")


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
        self.progress = JobBar("training")  # estimate of the time left; cancel stops a training on its thread
        self.stop = threading.Event()
        self.status = W.HTML("Choose a dataset and a model, then press <b>Train</b>.")
        self.shown_status = ""  # the status of the session the labs show while a new one trains
        self.error = ErrorLine()
        self.tabs = W.Tab()
        self.train_button.on_click(lambda _: self.start())
        self.progress.cancel.on_click(lambda _: self.stop.set())
        self.tabs.observe(self._show_tab, names="selected_index")
        for w in (self.dataset, self.model):
            w.observe(self._show_data_options, names="value")
        self._show_data_options()
        super().__init__([W.HBox([self.dataset, self.model, self.pretrained]), W.HBox([self.root, self.download]),
                          W.HBox([self.epochs, self.seed, self.train_button]),
                          self.progress, self.status, self.error, self.tabs])
        self.add_class("explorer-tour")

    @guarded
    def train(self) -> Session:
        """Open a session on the chosen data and model, train it with progress, and refresh every lab (here and
        now: the notebook's own cell; the button trains on a thread, see `start`)."""
        self.train_button.disabled = True
        try:
            session = self._open()
            self.progress.start("training", training(session.model, session.data, self.epochs.value),
                                session.time_budget)
            session.train(epochs=self.epochs.value, seed=self.seed.value, progress=self.progress)
            self.progress.finish("done")
        finally:
            self.train_button.disabled = False
        self.use(session)
        return session

    @guarded
    def start(self) -> None:
        """The Train button: the new session opened here, its training on a thread (nothing else holds the new
        model), progress and the result handed to the kernel's loop; the page answers meanwhile."""
        loop = _kernel_loop()
        if loop is None:  # a script or a test: here and now
            self.train()
            return
        self.train_button.disabled = True
        shown = self.status.value  # the session the labs show until the new one is trained
        try:
            session = self._open()
        except BaseException:
            self.train_button.disabled = False
            self.status.value = shown
            raise
        self.shown_status = shown
        self.status.value = (f"training {text(self.model.value)} on {text(self.dataset.value)} for "
                             f"{self.epochs.value} epochs"
                             + (" (the labs below show the previous model until it is done)" if shown else ""))
        self.stop.clear()
        self.progress.start("training", training(session.model, session.data, self.epochs.value), session.time_budget)
        threading.Thread(target=self._train_off_thread, args=(session, loop, self.epochs.value, self.seed.value),
                         daemon=True, name="explorer-train").start()

    def _train_off_thread(self, session: Session, loop, epochs: int, seed: int) -> None:
        last = [0.0]

        def report(done, total, info):
            if self.stop.is_set():
                raise Cancelled("training cancelled")
            if done == total or time.perf_counter() - last[0] > 0.1:  # the page needs ~10 updates a second
                last[0] = time.perf_counter()
                loop.call_soon_threadsafe(self.progress, done, total, info)
        try:
            session.train(epochs=epochs, seed=seed, progress=report)  # the values of the click, not of now
            err = None
        except BaseException as e:  # noqa: BLE001 - handed to the kernel's loop, shown in the panel
            err = e
        loop.call_soon_threadsafe(self._trained, session, err)

    @guarded
    def _trained(self, session: Session, err) -> None:
        """On the kernel's loop: the trained session shown, or the cancel or the error said (the labs keep the
        previous session)."""
        self.train_button.disabled = False
        if err is not None:  # the labs still show the previous session: so does the status line
            self.status.value = self.shown_status
        if isinstance(err, Cancelled):
            self.progress.finish("cancelled")
            return
        self.progress.finish("failed" if err else "done")
        if err is not None:
            raise err
        self.use(session)

    def _open(self) -> Session:
        """A new session on the chosen data and model (reads files, builds the model; no training)."""
        self.status.value = f"loading {text(self.dataset.value)} and building {text(self.model.value)} ..."
        kwargs = ({"root": self.root.value.strip() or None, "download": self.download.value}
                  if self.dataset.value in TORCHVISION_SETS else {})
        try:
            extra = {"pretrained": True} if self.pretrained.value and self.model.value not in BUILTIN else {}
            return Session.open(self.dataset.value, self.model.value, device=self.device,
                                seed=self.seed.value, data_kwargs=kwargs, **extra)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err}. Here: fill in 'data folder', or tick 'download if missing'") from err
        except ConnectionError as err:
            raise ConnectionError(f"{err}. Here: untick the download and use the files or weights you have, "
                                  "or the bundled digits") from err

    def _show_data_options(self, change=None) -> None:
        """The folder and download choices apply to the torchvision datasets only, pretrained weights to the
        torchvision models only."""
        shown = "" if self.dataset.value in TORCHVISION_SETS else "none"
        self.root.layout.display = self.download.layout.display = shown
        self.pretrained.layout.display = "none" if self.model.value in BUILTIN else ""

    @guarded
    def use(self, session: Session) -> None:
        """Show a session (e.g. your own model and data): status line and freshly built lab tabs."""
        session.check()
        self.session = session
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
