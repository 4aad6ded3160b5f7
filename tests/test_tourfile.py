"""Save, restore and share a tour: one weights-only file that opens in the same state (the same numbers shown), clear
errors for another version or a missing data folder, and a static HTML report."""
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("jupyter_bokeh")

from explorer.app import LABS, Tour, open_tour  # noqa: E402
from explorer.panels.plaindata import differences  # noqa: E402
from explorer.panels.snapshot import shown, walk  # noqa: E402


def control(panel, description):
    """The control of a panel with this description."""
    return next(w for _, w in walk(panel) if getattr(w, "description", None) == description
                and hasattr(w, "value") and not hasattr(w, "on_click"))


def panels(tour) -> dict:
    return {title: tab.children[0] for title, tab in zip(tour.labs, tour.tabs.children) if tab.children}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tour trained 1 epoch with every lab open and choices away from their defaults, saved; and it opened again."""
    path = tmp_path_factory.mktemp("tour") / "tour.pt"
    tour = Tour(epochs=1, device="cpu")
    tour.train()
    for i in range(len(LABS)):
        tour.tabs.selected_index = i
    p = panels(tour)
    control(p["Gallery"], "split").value = "train"
    sal = p["Saliency"]
    control(sal, "image").value = 5
    control(sal, "method").value = sal.method_names[2]
    control(sal, "alpha").value = 0.3
    sal.dff.components.value, sal.tcav.runs.value, sal.tcav.concept.value = 3, 3, "class 2"
    sal.dff.factorize()  # the DFF and TCAV views: one button each, pressed again on restore
    sal.tcav.run()
    control(p["Neural codes"], "colour").value = control(p["Neural codes"], "colour").options[1]
    p["Loss landscape"].path.interpolate()  # a view with one button: pressed again on restore
    tour.tabs.selected_index = 1
    before = {k: shown(v) for k, v in p.items()}
    tour.save(path)
    return tour, path, before, open_tour(path, device="cpu")


def test_the_file_loads_weights_only_and_names_the_data(saved):
    tour, path, _, _ = saved
    blob = torch.load(path, weights_only=True)  # no pickled object: tensors, dicts, lists, strings, numbers
    meta = blob["meta"]
    assert meta["data"] == {"kind": "named", "dataset": "digits", "options": {}}
    assert meta["architecture"] == {"name": "cnn", "class": "Sequential", "seed": 0}
    assert set(meta["labs"]) == set(LABS) and meta["tour"]["selected"] == 1
    own = tour.session.model.state_dict()
    assert all(torch.equal(blob["state_dict"][k], v) for k, v in own.items())
    assert len(meta["history"]["checkpoints"]) == len(tour.session.history.checkpoints)


def test_the_restored_tour_shows_the_same_numbers(saved):
    import explorer

    assert explorer.open_tour is open_tour  # the package's public name
    tour, _, before, again = saved
    after = {k: shown(v) for k, v in panels(again).items()}
    assert set(after) == set(before)
    tensors = sum(isinstance(x, torch.Tensor) for v in before.values() for x in v.values())
    plots = sum(isinstance(x, list) for v in before.values() for x in v.values())
    assert tensors >= 30 and plots >= 8  # pictures and plot sources, not only texts
    assert [d for k in before for d in differences(before[k], after[k], k)] == []
    assert again.restored_.differences == [] and again.restored_.problems == []
    sal = panels(again)["Saliency"]
    assert sal.state.index == 5 and sal.state.method == panels(tour)["Saliency"].method_names[2]
    assert sal.state.alpha == 0.3 and control(panels(again)["Gallery"], "split").value == "train"
    assert sal.dff.result_.maps.shape[1] == 3 and sal.tcav.result_.scores.tolist() == panels(tour)[
        "Saliency"].tcav.result_.scores.tolist() and "concept &#x27;class 2&#x27;" in sal.tcav.summary.value
    assert again.tabs.selected_index == 1 and "the same numbers as saved" in again.files.said.value
    assert again.session.model is not tour.session.model
    path = panels(again)["Loss landscape"].path.path_
    assert path is not None and path.loss.tolist() == panels(tour)["Loss landscape"].path.path_.loss.tolist()
    own, back = tour.session.model.state_dict(), again.session.model.state_dict()
    assert all(torch.equal(own[k], back[k]) for k in own)


def test_other_weights_show_other_numbers(saved):
    """The comparison is not blind: one changed weight in the restored model changes the gallery's numbers."""
    _, _, before, again = saved
    weight = next(again.session.model.parameters())
    kept = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.add_(0.5)
        again.session.changed()  # the gallery is cheap: it draws again for the new weights
        assert differences(before["Gallery"], shown(panels(again)["Gallery"]), "Gallery")
    finally:
        with torch.no_grad():
            weight.copy_(kept)
        again.session.changed()
    assert differences(before["Gallery"], shown(panels(again)["Gallery"]), "Gallery") == []


def test_saving_leaves_the_model_unchanged(saved, tmp_path, unchanged):
    tour = saved[0]
    with unchanged(tour.session.model):
        tour.save(tmp_path / "again.pt")
        tour.export_html(tmp_path / "again.html")


def test_another_version_a_plain_checkpoint_and_a_missing_folder_are_clear_errors(saved, tmp_path):
    from explorer.checkpoints import save_checkpoint

    _, path, _, _ = saved
    blob = torch.load(path, weights_only=True)
    blob["meta"]["version"] = 99
    torch.save(blob, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format version 99; this explorer reads version 1"):
        open_tour(tmp_path / "future.pt")
    save_checkpoint(saved[0].session.model, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not an explorer tour file"):
        open_tour(tmp_path / "plain.pt")
    blob["meta"].update(version=1, data={"kind": "named", "dataset": "mnist",
                                         "options": {"root": str(tmp_path / "gone"), "download": True}})
    torch.save(blob, tmp_path / "moved.pt")
    with pytest.raises(FileNotFoundError, match="gone.*missing here"):
        open_tour(tmp_path / "moved.pt")
    with pytest.raises(FileNotFoundError, match="no tour file"):
        open_tour(tmp_path / "nothing.pt")


def test_a_model_and_data_of_your_own(digits, tmp_path, unchanged, monkeypatch):
    """Small in-memory data is saved in the file; a model of your own must be passed again (and is not changed)."""
    from explorer import Session
    from explorer.data import from_arrays
    from explorer.models import build_model

    data = from_arrays(digits.x["test"][:60], digits.y["test"][:60], classes=list(digits.classes), name="mine",
                       test_fraction=0.5, seed=1)
    net = build_model("mlp", data, seed=2).eval()
    tour = Tour(device="cpu")
    tour.use(Session(net, data))
    tour.save(tmp_path / "mine.pt")
    meta = torch.load(tmp_path / "mine.pt", weights_only=True)["meta"]
    assert meta["data"]["kind"] == "arrays" and torch.equal(meta["data"]["x"]["test"], data.x["test"])
    with pytest.raises(ValueError, match="model of your own.*model=..."):
        open_tour(tmp_path / "mine.pt")
    other = build_model("mlp", data, seed=3).eval()
    with unchanged(other):  # the saved weights go into a copy
        again = open_tour(tmp_path / "mine.pt", model=other, device="cpu")
    assert differences(shown(panels(tour)["Gallery"]), shown(panels(again)["Gallery"])) == []
    assert again.session.data.name == "mine" and again.pickers.layout.display == "none"
    monkeypatch.setattr("explorer.panels.tourdata.SMALL", 0)  # data too large to go into the file: named only
    tour.save(tmp_path / "large.pt")
    with pytest.raises(ValueError, match="does not hold its data.*data=..."):
        open_tour(tmp_path / "large.pt", model=other)
    assert open_tour(tmp_path / "large.pt", model=other, data=data, device="cpu").restored_.differences == []


def test_the_html_report_holds_every_lab_offline(saved, tmp_path):
    tour = saved[0]
    tour.export_html(tmp_path / "tour.html")
    html = (tmp_path / "tour.html").read_text()
    assert "cdn.bokeh.org" not in html and "Bokeh.embed.embed_items" in html  # BokehJS inlined, no CDN
    assert html.count("data:image/png;base64,") >= 24 and "<table" in html
    assert all(f"<h2>{title}</h2>" in html for title in LABS)
    assert "<b>method</b>: " + tour.tabs.children[1].children[0].state.method in html  # the choices
    assert "explorer-report-plot" in html and "wrote the report" in tour.files.said.value


def test_the_file_bar_buttons_save_open_and_export(saved, tmp_path):
    """The buttons (handlers called directly: ipywidgets only logs a handler's error) and their messages."""
    tour = saved[0]
    bar = tour.files
    bar.path.value, bar.html.value = str(tmp_path / "bar.pt"), str(tmp_path / "bar.html")
    save, open_, export = bar.buttons
    save.click()
    assert (tmp_path / "bar.pt").is_file() and "saved the tour" in bar.said.value and tour.error.value == ""
    export.click()
    assert (tmp_path / "bar.html").is_file() and "wrote the report" in bar.said.value
    bar.path.value = str(tmp_path / "missing.pt")
    open_.click()
    assert "no tour file" in tour.error.value and tour.session is saved[0].session  # the tour shown is kept


def test_in_a_kernel_the_labs_compute_again_off_the_thread_and_show_the_same_numbers(saved, kernel):
    """In JupyterLab the restored labs' jobs run on the executor's thread: nothing is compared at once, check()
    compares once they are drawn."""
    import asyncio
    import threading

    async def use():
        again = open_tour(saved[1], device="cpu")
        assert again.restored_.differences is None and "compute their results again" in again.files.said.value
        for _ in range(240):  # until every job is drawn (at most 60 s: each lab has a handful of small jobs)
            await asyncio.sleep(0.25)
            if not again.restored_.check(again):
                break
        assert again.restored_.check(again) == []

    outcome = []  # asyncio.run on a thread of its own (as test_panel_common.run_loop), with time for five labs

    def target():
        try:
            asyncio.run(use())
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001 - raised again in the test's thread
            outcome.append(err)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(120)
    assert not thread.is_alive() and outcome
    if outcome[0] is not None:
        raise outcome[0]
