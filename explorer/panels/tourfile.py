"""A tour in one file and as one page: save the model's weights, a reference to the data (or the data itself), the
training's history and every open lab's choices and shown results; open it again in the same state; export a static
HTML report. The file is a checkpoint (checkpoints.save_checkpoint) that torch.load(weights_only=True) reads.

Results are not loaded from the file: the labs compute them again from the saved weights and choices (seeded), and
the restore compares what they show with what was saved (`Restored.differences`). So a result is always the one of
the weights shown."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch

from ..checkpoints import check_archive, load_checkpoint, save_checkpoint
from ..data import ImageSet
from ..device import pick_device
from ..models import build_model, model_name
from ..session import Session
from ..train import History
from ._view import View
from .plaindata import differences
from .snapshot import apply, at, choices, shown, walk
from .tourdata import data_ref, named_data

FORMAT, VERSION = "explorer-tour", 1


@dataclass
class Restored:
    """What opening a tour file did: choices that could not be set, results to ask for again, and (when the labs
    computed here and now, or after check()) where the results shown differ from the saved ones (empty: the same
    numbers)."""

    problems: list = field(default_factory=list)
    press: list = field(default_factory=list)
    differences: list | None = None
    saved: dict = field(default_factory=dict, repr=False)  # lab title -> the results it showed when saved

    def check(self, tour) -> list:
        """Compare what the tour's labs show now with the saved results (in a kernel: once their jobs are done)."""
        now = {t: tab.children[0] for t, tab in zip(tour.labs, tour.tabs.children) if tab.children}
        self.differences = [f"{t}{d}" for t, saved in self.saved.items() if t in now
                            for d in differences(saved, shown(now[t]))]
        return self.differences


def where(path) -> str:
    """A view's place in its panel, as a key of plain data ('1/0/2')."""
    return "/".join(map(str, path))


def save(tour, path) -> None:
    """Write the tour's session and open labs to path (atomically; the model is not changed)."""
    s = tour.session
    if s is None:
        raise ValueError("nothing to save yet: train a model (or show a session of your own) first")
    opened = tour.opened_[1] if tour.opened_ and tour.opened_[0] is s else None
    h = s.history
    labs = {}
    for title, page in zip(tour.labs, tour.tabs.children):
        if page.children:
            panel = page.children[0]
            views = [(p, w) for p, w in walk(panel) if isinstance(w, View)]
            labs[title] = {"choices": choices(panel), "shown": shown(panel),
                           "drawn": [list(p) for p, w in views if w.shown_],
                           "acts": {where(p): dict(w.last_) for p, w in views if w.shown_ and w.last_}}
    save_checkpoint(s.model, path, format=FORMAT, version=VERSION, saved=time.strftime("%Y-%m-%d %H:%M:%S"),
                    architecture={"name": opened["model"] if opened else None, "class": model_name(s.model),
                           "seed": opened["seed"] if opened else 0},
                    data=data_ref(s.data, opened and {k: opened[k] for k in ("dataset", "options")}),
                    history={"epochs": list(h.epochs), "train_loss": list(h.train_loss),
                             "test_loss": list(h.test_loss), "test_accuracy": list(h.test_accuracy),
                             "checkpoints": [[e, dict(sd)] for e, sd in h.checkpoints], "seconds": h.seconds},
                    tour={"pickers": choices(tour.pickers), "picked": opened is not None,
                          "selected": tour.tabs.selected_index}, labs=labs)


def read(path) -> dict:
    """The metadata of a tour file (weights-only load), or a clear error for another format or version."""
    check_archive(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"no tour file at {path}") from None
    except Exception as err:
        raise ValueError(f"{path} is not a tour file that explorer can read: {err}") from err
    meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an explorer tour file (a plain checkpoint? load it with load_checkpoint)")
    if meta.get("version") != VERSION:
        raise ValueError(f"tour file {path} has format version {meta.get('version')!r}; this explorer reads version "
                         f"{VERSION}: open it with the explorer that saved it")
    return meta


def session(path, meta: dict, model=None, data: ImageSet | None = None, device: str | None = None) -> Session:
    """A session on the saved weights (checked by load_checkpoint) and history, the data the file names."""
    images = named_data(meta["data"], path, data)
    name, seed = meta["architecture"]["name"], meta["architecture"]["seed"]
    if model is None and name is None:
        kind = meta["architecture"]["class"]
        raise ValueError(f"tour file {path} was saved from a model of your own ({kind}): open it with "
                         f"open_tour({str(path)!r}, model=...) and a model of that architecture")
    net = copy.deepcopy(model) if model is not None else build_model(name, images, seed=seed)
    load_checkpoint(net, path)
    net = net.to(pick_device(device))
    if model is None:
        net.eval()  # as Session.open: a model built here starts in eval mode; your own keeps its modes
    h = meta["history"]
    history = History(epochs=h["epochs"], train_loss=h["train_loss"], test_loss=h["test_loss"],
                      test_accuracy=h["test_accuracy"], checkpoints=[(e, sd) for e, sd in h["checkpoints"]],
                      seconds=h["seconds"])
    return Session(net, images, history)


def restore_labs(tour, meta: dict, now: bool) -> Restored:
    """Open the saved labs with their choices; views that showed a result compute it again. When `now` (no kernel:
    jobs run here and now) the results shown are compared with the saved ones."""
    out = Restored(saved={t: lab["shown"] for t, lab in meta["labs"].items()})
    titles = list(tour.labs)
    for title, lab in meta["labs"].items():
        if title not in titles:
            out.problems.append(f"{title}: no such lab in this tour")
            continue
        tour.tabs.selected_index = titles.index(title)
        panel = tour.tabs.children[titles.index(title)].children[0]
        out.problems += [f"{title}: {p}" for p in apply(panel, lab["choices"])]
        for path in lab["drawn"]:
            view, acts = at(panel, path), lab.get("acts", {}).get(where(path))  # no acts: an older file
            if isinstance(view, View) and view.shown_ is None:
                again = view.press and getattr(view, view.press)  # one button: pressed again
                if acts:  # several buttons: the handlers that drew what it showed, run again by recompute()
                    view.last_, again = dict(acts), view.recompute
                if again or type(view).recompute is not View.recompute:
                    try:
                        (again or view.recompute)()
                    except Exception as err:  # noqa: BLE001 - said beside the other problems of the restore
                        out.problems.append(f"{title}: {err}")
                    else:
                        if now and view.shown_ is None:  # a handler's error went to the lab's error line
                            out.problems.append(f"{title}: {type(view).__name__} shows nothing again (the lab's "
                                                f"error line says why); {view.again}")
                else:
                    out.press.append(f"{title}: {view.again}")
    selected = meta["tour"]["selected"]
    if selected is not None and selected < len(titles):
        tour.tabs.selected_index = selected
    if now:
        out.check(tour)
    return out
