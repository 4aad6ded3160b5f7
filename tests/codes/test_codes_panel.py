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
    assert len(panel.calls) == 1 and panel.error.value == ""
    before = list(panel.source.data["colour"])
    xy = np.array(panel.source.data["x"])
    panel.colour.value = "correct"
    after = panel.source.data["colour"]
    assert after != before and set(after) <= {"#2ca02c", "#d62728"}
    np.testing.assert_array_equal(panel.source.data["x"], xy)
    panel.colour.value = "cluster"
    assert len(set(panel.source.data["colour"])) == 10
    assert len(panel.calls) == 1
    assert panel.source.data["image"][0].startswith("data:image/png;base64,")


def test_layer_change_recomputes_once(panel):
    panel.layer.value = "relu1"
    assert len(panel.calls) == 2 and "16 bits" in panel.metrics.value
    panel.layer.value = None  # back: memoised
    assert len(panel.calls) == 2 and "32 bits" in panel.metrics.value
    panel.split.value = "train"
    assert len(panel.calls) == 3 and len(panel.source.data["x"]) == 1347


def test_selection_shows_images_and_code_statistics(panel):
    panel.source.selected.indices = [0, 1, 2]
    assert "3 selected" in panel.selection.value and len(panel.thumbs.children) == 3
    panel.split.value = "train"  # a new map: the old selection no longer means anything
    assert panel.selection.value == "" and not panel.thumbs.children and not panel.source.selected.indices


def test_epoch_slider_uses_a_copy(panel, unchanged):
    with unchanged(panel.session.model):
        now = panel.metrics.value
        panel.epoch.value = 0  # the initial weights
        assert panel.error.value == "" and panel.metrics.value != now
        panel.epoch.value = -1
        assert panel.metrics.value == now
        panel._over_training()
        assert panel.error.value == "" and panel.categorization.value.count("<tr>") == 1 + 3  # epochs 0, 1, 2


def test_categorization_table_and_errors(panel, monkeypatch):
    from explorer.codes import lab

    # the classifiers are tested in test_codes_metrics; here the wiring (a stand-in keeps the test fast)
    seen = []
    monkeypatch.setattr(lab, "categorization", lambda feats, *a, **k: seen.append(sorted(feats)) or
                        [{"features": f, "K-Means Hungarian test": 0.5} for f in feats])
    panel._categorize()
    assert seen == [["activations", "codes", "pixels"]]
    assert "Hungarian" in panel.categorization.value and "pixels" in panel.categorization.value

    monkeypatch.setattr(lab, "embed", lambda *a, **k: (_ for _ in ()).throw(ValueError("map failed here")))
    panel.split.value = "train"
    assert "map failed here" in panel.error.value
    panel.split.value = "test"  # memoised: works again and clears the error
    assert panel.error.value == ""


def test_local_complexity_button(panel):
    panel.radius.value = 0.5
    panel._local_complexity()
    assert panel.error.value == "" and "relu1" in panel.lc.value and "total" in panel.lc.value
    panel.layer.value = "relu2"
    assert panel.lc.value == ""  # stale numbers are cleared


def test_core_imports_no_widget_code():
    code = ("import sys, explorer, explorer.codes; bad = {'ipywidgets', 'bokeh', 'umap', 'jupyter_bokeh'} & "
            "set(m.split('.')[0] for m in sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
