"""The codes panel, headless: recolour redraws without recomputing, a layer change recomputes once, selection,
training-time slider on a copy, errors in the panel; the core imports no widget code."""
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained_mlp(digits):
    """A 2-hidden-layer MLP trained 2 epochs, with its checkpoints (trained once for the module)."""
    from explorer import Session

    return Session.open(digits, "mlp", device="cpu", width=16, depth=2, epochs=2, seed=0)


@pytest.fixture
def panel(digits, trained_mlp, monkeypatch):
    pytest.importorskip("jupyter_bokeh")
    import copy

    from explorer import Session
    from explorer.codes import lab
    from explorer.panels.codes import CodesPanel

    calls = []
    real = lab.embed
    monkeypatch.setattr(lab, "embed", lambda *a, **k: calls.append(a[1:]) or real(*a, **k))
    s = Session(copy.deepcopy(trained_mlp.model), digits, trained_mlp.history)  # a fresh memo per test
    p = CodesPanel(s)
    p.calls = calls
    return p


def test_recolour_redraws_without_recomputing(panel):
    import explorer.panels.codes.map as mod

    assert panel.choice.layer.index == 0 and panel.state.layers() is None  # "all ReLU layers", shown as selected
    assert len(panel.calls) == 1 and panel.error.value == ""
    before = panel.maps.point_colours()
    y = panel.session.data.labels("test").numpy()
    assert before == [mod.PALETTE[int(v)] for v in y] and panel.maps.legend_keys() == [str(k) for k in range(10)]
    xy, images = np.array(panel.maps.source.data["x"]), panel.maps.source.data["image"]
    panel.maps.colour.value = "correct"
    assert panel.maps.source.data["image"] is images  # a recolour sends the colour columns, not the thumbnails again
    after = panel.maps.point_colours()
    assert after != before and set(after) <= {"#0072B2", "#D55E00"}  # colour-blind-safe blue and vermillion
    ok = panel.maps.source.data["prediction"] == y
    assert [c == "#0072B2" for c in after] == list(ok)  # blue exactly where the prediction is right
    assert set(panel.maps.legend_keys()) <= {"correct", "wrong"}  # the legend says what the colours mean
    assert isinstance(panel.maps.source.data["code"], np.ndarray)  # one binary array goes to the page, not strings
    np.testing.assert_array_equal(panel.maps.source.data["x"], xy)
    panel.maps.colour.value = "cluster"
    assert len(set(panel.maps.point_colours())) == 10 and len(panel.maps.legend_keys()) == 10
    assert len(panel.calls) == 1
    assert panel.maps.source.data["image"][0].startswith("data:image/png;base64,")


def test_layer_change_recomputes_once(panel):
    panel.choice.layer.value = "relu1"
    assert len(panel.calls) == 2 and "16 bits" in panel.maps.metrics.value
    assert panel.choice.layer.index is not None  # the browser shows a selected entry, never a blank menu
    panel.choice.layer.value = "all"  # back: memoised
    assert len(panel.calls) == 2 and "32 bits" in panel.maps.metrics.value
    panel.choice.split.value = "train"
    assert len(panel.calls) == 3 and len(panel.maps.source.data["x"]) == 1347


def test_selection_shows_images_and_code_statistics(panel):
    panel.maps.source.selected.indices = [0, 1, 2]
    assert "3 selected" in panel.selected.selection.value and panel.selected.thumbs.value.count("<img") == 3
    panel.choice.split.value = "train"  # a new map: the old selection no longer means anything
    assert panel.selected.selection.value == "" and panel.selected.thumbs.value == ""
    assert not panel.maps.source.selected.indices


def test_epoch_slider_uses_a_copy(panel, unchanged):
    with unchanged(panel.session.model):
        now = panel.maps.metrics.value
        panel.choice.epoch.value = 0  # the initial weights
        assert panel.error.value == "" and panel.maps.metrics.value != now
        panel.choice.epoch.value = -1
        assert panel.maps.metrics.value == now
        panel.tables.over_training()
        assert panel.error.value == "" and panel.tables.categorization.value.count("<tr>") == 1 + 3  # epochs 0, 1, 2


def test_categorization_table_and_errors(panel, monkeypatch):
    from explorer.codes import lab

    # the classifiers are tested in test_codes_metrics; here the wiring (a stand-in keeps the test fast)
    seen = []
    monkeypatch.setattr(lab, "categorization", lambda feats, *a, **k: seen.append(sorted(feats)) or
                        [{"features": f, "K-Means Hungarian test": 0.5} for f in feats])
    panel.tables.categorize()
    assert seen == [["activations", "codes", "pixels"]]
    assert "Hungarian" in panel.tables.categorization.value and "pixels" in panel.tables.categorization.value

    monkeypatch.setattr(lab, "embed", lambda *a, **k: (_ for _ in ()).throw(ValueError("map failed here")))
    panel.choice.split.value = "train"
    assert "map failed here" in panel.error.value
    panel.choice.split.value = "test"  # memoised: works again and clears the error
    assert panel.error.value == ""


def test_local_complexity_button(panel):
    panel.complexity.radius.value = 0.5
    panel.complexity.local_complexity()
    assert panel.error.value == "" and "relu1" in panel.complexity.lc.value and "total" in panel.complexity.lc.value
    panel.choice.layer.value = "relu2"
    assert panel.complexity.lc.value == ""  # stale numbers are cleared


def test_core_imports_no_widget_code():
    code = ("import sys, explorer, explorer.codes; bad = {'ipywidgets', 'bokeh', 'umap', 'jupyter_bokeh'} & "
            "set(m.split('.')[0] for m in sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_phase_chart_draws_and_thresholds_relabel_without_recomputing(digits, monkeypatch, tmp_path):
    pytest.importorskip("jupyter_bokeh")
    from explorer import Session
    from explorer.codes import PRESETS, REGIMES, sweep
    from explorer.panels.codes import phase

    calls = []
    monkeypatch.setitem(PRESETS, "tiny", dict(widths=(2, 12), epochs=(0, 2), sizes=(60, 10_000)))
    monkeypatch.setattr(sys.modules["explorer.codes.sweep"], "sweep", lambda *a, **k: calls.append(k) or sweep(*a, **k))
    p = phase.PhasePanel(Session.open(digits, "mlp", device="cpu", width=8))
    p.preset.value = "tiny"
    p.compute()
    assert p.error.value == "" and len(calls) == 1
    assert p.result["sizes"] == (60, 1347)  # a preset's size above the data's is capped
    assert p.progress.bar.value == p.progress.bar.max == 4  # one tick per (width, size) run
    data = p.sources[0].data
    assert len(data["value"]) == 4 and set(data["regime"]) <= set(REGIMES)
    assert data["value"] == p.result["redundancy ratio"][:, :, 1].ravel().tolist()
    # width 2 has at most 4 codes for 450 test images: under-expressive at any sensible threshold
    assert data["letter"][0] == "U"
    p.rr_max.value = 1.0  # every redundancy passes: no cell is under-expressive now, and nothing was recomputed
    assert "U" not in p.sources[0].data["letter"] and len(calls) == 1
    p.size.value = 0
    assert p.sources[1].data["value"] == p.result["k-NN"][:, :, 0].ravel().tolist()
    p.compute()
    assert len(calls) == 1  # memoised
    p.export.folder.value = str(tmp_path)
    paths = {q.name.split("-", 4)[-1]: q for q in p.export.save()}
    assert set(paths) == {"redundancy.html", "knn.html", "sweep.csv"}
    assert len(paths["sweep.csv"].read_text().splitlines()) == 1 + 2 * 2 * 2


def test_codes_export_map_and_tables(panel, tmp_path):
    import csv

    panel.export.folder.value = str(tmp_path)
    paths = {p.name.split("-", 3)[-1]: p for p in panel.export.save()}
    assert set(paths) == {"map.html", "determinism.csv"}
    rows = list(csv.DictReader(paths["determinism.csv"].open()))
    assert rows[0]["redundancy ratio"] and len(rows) == len(panel.tables_["determinism"])
    assert "cdn.bokeh.org" not in paths["map.html"].read_text()


def test_a_table_for_an_old_choice_is_never_drawn(panel, monkeypatch):
    """In a kernel the slow table runs on a thread; a layer change meanwhile makes its result stale: dropped."""
    import asyncio
    import time
    import types

    import IPython

    from explorer.codes import lab

    from ..test_panel_common import run_loop

    def slow_table(feats, *a, progress=None, **k):
        time.sleep(0.4)
        return [{"features": f, "K-Means Hungarian test": 0.5} for f in feats]
    monkeypatch.setattr(lab, "categorization", slow_table)
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))

    async def use():
        start = time.perf_counter()
        panel.tables.categorize()
        assert time.perf_counter() - start < 0.3 and panel.tables.categorization.value == ""  # returned at once
        panel.choice.layer.value = "relu1"  # meanwhile: another choice clears the tables
        await asyncio.sleep(1.0)  # the old table has arrived by now (and any map of relu1)
        assert panel.tables.categorization.value == "", "a stale table was drawn"
        panel.tables.categorize()  # asked again for relu1: drawn when done
        await asyncio.sleep(1.0)
        assert "Hungarian" in panel.tables.categorization.value

    run_loop(use())
    assert panel.error.value == ""


def test_large_maps_send_no_thumbnail_per_point(panel, monkeypatch):
    """Above HOVER_IMAGES points the hover shows labels only; a selection still shows its images."""
    import explorer.panels.codes.map as mod

    monkeypatch.setattr(mod, "HOVER_IMAGES", 100)
    panel.choice.split.value = "train"  # a new map, drawn with the lower cap
    assert set(panel.maps.source.data["image"]) == {""} and "<img" not in panel.maps.hover.tooltips
    panel.maps.source.selected.indices = [0, 5, 7]
    assert panel.selected.thumbs.value.count("<img src='data:image/png;base64,") == 3
