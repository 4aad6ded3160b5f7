"""The tour and the gallery, headless: train with progress, gallery redraws, errors shown in the panel."""
import pytest

pytest.importorskip("ipywidgets")

from explorer.app import Tour  # noqa: E402
from explorer.panels.gallery import GalleryPanel  # noqa: E402


def test_gallery_shows_predictions(trained_session):
    g = GalleryPanel(trained_session, n=10)
    assert len(g.grid.children) == 10
    first = bytes(g.grid.children[0].children[0].value)
    assert first.startswith(b"\x89PNG")
    assert "test accuracy" in g.summary.value
    evals = trained_session.misses
    g.split.value = "train"
    assert len(g.grid.children) == 10 and bytes(g.grid.children[0].children[0].value) != first
    g.split.value = "test"
    assert trained_session.misses == evals + 1, "switching back must reuse the memoised evaluation"


def test_tour_trains_with_progress_and_builds_tabs():
    t = Tour(epochs=1, device="cpu")
    session = t.train()
    assert session is t.session and t.error.value == ""
    assert t.progress.bar.value == t.progress.bar.max > 1
    assert "test accuracy" in t.status.value
    assert t.pickers.layout.display == "" and t.pick.layout.display == "none"  # what Train opened: still named
    gallery = t.tabs.children[0].children[0]
    assert isinstance(gallery, GalleryPanel) and gallery.session is session


def test_tour_shows_errors_and_stays_usable(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path))
    t = Tour(dataset="mnist", epochs=1, device="cpu")
    assert t.train() is None
    assert "mnist not found" in t.error.value and "download if missing" in t.error.value
    assert not t.train_button.disabled and t.root.layout.display == ""
    t.dataset.value = "digits"
    assert t.root.layout.display == "none"  # the folder and download choices are for torchvision sets only
    assert t.train() is not None and t.error.value == ""


def test_tour_asks_before_downloading_and_says_when_offline(tmp_path, monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    t = Tour(dataset="fashion-mnist", epochs=1, device="cpu")
    t.root.value = str(tmp_path)
    assert t.train() is None and "download if missing" in t.error.value  # nothing fetched unless ticked
    t.download.value = True
    assert t.train() is None and "no network" in t.error.value and "could not download" in t.error.value


def test_pretrained_weights_only_when_ticked(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    t = Tour(model="cnn", epochs=0, device="cpu")
    assert t.pretrained.layout.display == "none"  # the built-in models have no pretrained weights
    t.model.value = "resnet18"
    assert t.pretrained.layout.display == ""
    t.pretrained.value = True
    assert t.train() is None and "could not download pretrained weights" in t.error.value
    assert "pretrained=False" in t.error.value


def test_tour_reads_a_data_folder():
    from pathlib import Path

    subset = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-subset"
    if not subset.exists():
        pytest.skip("the shared MNIST subset is not beside this checkout")
    t = Tour(dataset="mnist", model="mlp", epochs=1, device="cpu")
    t.root.value = str(subset)
    session = t.train()
    assert t.error.value == "" and session.data.name == "mnist" and session.data.shape == (1, 28, 28)


def test_tour_use_refuses_a_mismatched_session(trained_session):
    import torch
    from torch import nn

    from explorer import Session

    t = Tour(device="cpu")
    bad = Session(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), trained_session.data)
    t.use(bad)
    assert "logits of shape" in t.error.value and t.session is None
    t.use(trained_session)
    assert t.session is trained_session and t.error.value == ""
    # a session of your own: the pickers ("digits / cnn / 15" by default) would name another model; hidden, and
    # a button shows them again
    assert t.pickers.layout.display == "none" and t.pick.layout.display == ""
    t.pick.click()
    assert t.pickers.layout.display == "" and t.pick.layout.display == "none"
    assert isinstance(t.tabs.children[0].children[0], GalleryPanel)
    assert torch.is_tensor(trained_session.data.x["test"])


def test_switching_data_and_model_refreshes_every_lab():
    pytest.importorskip("jupyter_bokeh")
    from explorer.app import LABS, load_panel

    t = Tour(epochs=1, device="cpu")
    first = t.train()
    panels = []
    for i in range(len(LABS)):
        t.tabs.selected_index = i  # a lab is built when its tab is shown
        panel = t.tabs.children[i].children[0]
        assert isinstance(panel, load_panel(list(LABS.values())[i])) and panel.session is first
        panels.append(panel)
    assert t.error.value == "" and all(getattr(p, "error", t.error).value == "" for p in panels)
    t.dataset.value, t.model.value = "block-digits", "mlp"
    second = t.train()
    assert second is not first and second.data.name == "block-digits"
    assert t.tabs.selected_index == 0 and t.tabs.children[0].children[0].session is second
    for i in range(1, len(LABS)):
        assert not t.tabs.children[i].children  # rebuilt on the new session when shown, not reused
        t.tabs.selected_index = i
        assert t.tabs.children[i].children[0].session is second and t.error.value == ""


def test_train_button_trains_off_the_kernel_thread_and_cancels(kernel):
    """In a kernel the button trains on a thread: the loop answers meanwhile; cancel keeps the old session."""
    import asyncio
    import time

    from .test_panel_common import run_loop

    t = Tour(epochs=40, device="cpu")
    ticks, before = [], t.status.value

    async def use():
        start = time.perf_counter()
        t.train_button.click()
        assert time.perf_counter() - start < 2 and t.train_button.disabled  # opened here, trained elsewhere
        assert t.status.value.startswith("training cnn on digits for 40 epochs")  # not "loading ..." meanwhile
        for _ in range(10):  # the loop keeps running while the model trains
            await asyncio.sleep(0.05)
            ticks.append(t.progress.bar.value)
        for _ in range(600):  # a loaded machine: wait for the first reported batch before cancelling
            if t.progress.bar.value > 0:
                break
            await asyncio.sleep(0.05)
        t.progress.cancel.click()
        while t.train_button.disabled:
            await asyncio.sleep(0.05)
    run_loop(use())
    assert len(ticks) == 10 and t.session is None and t.progress.label.value == "cancelled"
    assert t.status.value == before  # cancelled: the status line is the old one again
    assert t.error.value == "" and 0 < t.progress.bar.value < t.progress.bar.max
    t.epochs.value = 1

    async def again():
        t.train_button.click()
        while t.train_button.disabled:
            await asyncio.sleep(0.05)
    run_loop(again())
    assert t.session is not None and "test accuracy" in t.status.value and t.error.value == ""
    assert t.progress.bar.value == t.progress.bar.max and t.progress.bar.bar_style == "success"
