"""The geometry panel, headless: every tab's main action draws, a region click shows a code, bad input is shown."""
import numpy as np
import pytest

pytest.importorskip("jupyter_bokeh")


@pytest.fixture(scope="module")
def session(digits):
    """A small MLP on digits trained 2 epochs (checkpoints 0, 1, 2)."""
    from explorer import Session

    return Session.open(digits, "mlp", device="cpu", epochs=2, seed=0, width=12)


@pytest.fixture
def panel(session):
    from explorer.panels.geometry import GeometryPanel

    return GeometryPanel(session)


def test_linear_map_drawn_and_exact(panel, session, unchanged):
    with unchanged(session.model):
        panel.linear.index.value = 3
    assert panel.error.value == "", panel.error.value
    m = panel.linear.map_
    assert m.exact and m.weight.shape[:2] == (1, len(session.data.classes))
    assert panel.linear.templates.value[:4] == b"\x89PNG"
    assert panel.linear.table.value.count("<tr>") == 1 + len(session.data.classes)
    err = float(panel.linear.note.value.rsplit(":", 1)[1])
    assert err < 1e-3  # W_x x' + b_x reproduces the MLP next to x


def test_regions_then_click_shows_a_code(panel, session, unchanged):
    panel.regions.resolution.value = 50
    with unchanged(session.model):
        panel.regions.recompute()
    assert panel.error.value == "", panel.error.value
    r = panel.regions.regions_
    assert r.ids.shape == (50, 50) and r.count > 1 and "regions</b>" in panel.regions.summary.value
    img = np.asarray(panel.regions.map_source.data["image"][0])
    assert img.shape == (50, 50) and np.isfinite(img).all()
    a = r.anchors[0]
    with unchanged(session.model):
        panel.regions.select(float(a[0]), float(a[1]))
    assert "code:" in panel.regions.clicked.value and "training inputs with this code" in panel.regions.clicked.value
    assert f"of {r.n_bits} units on" in panel.regions.clicked.value
    assert r.n_bits == 12 * (len(panel.regions.layer.options) - 1)
    panel.regions.colour.value = "class"
    assert np.asarray(panel.regions.map_source.data["image"][0]).max() < len(session.data.classes)


def test_identical_inputs_error_then_panel_still_works(panel):
    for p in panel.regions.points:
        p.value = 5
    panel.regions.recompute()
    assert "three different inputs" in panel.error.value
    panel.regions.select(0.0, 0.0)
    assert "compute the regions first" in panel.error.value
    panel.regions.points[1].value, panel.regions.points[2].value, panel.regions.resolution.value = 6, 7, 50
    panel.regions.recompute()
    assert panel.error.value == "" and panel.regions.regions_ is not None


@pytest.mark.slow
def test_similarity_collapse_features(panel, session, unchanged):
    from explorer.geometry.featvis import STEPS

    with unchanged(session.model):
        panel.similarity.recompute()
        panel.collapse.recompute()
        panel.features.show_top()
        panel.features.maximise()
    assert panel.error.value == "", panel.error.value
    m = panel.similarity.cka_
    assert np.allclose(np.diag(m.values), 1.0) and len(panel.similarity.source.data["value"]) == m.values.size
    assert [r["epoch"] for r in panel.collapse.rows_] == [0, 1, 2] and len(panel.collapse.source.data["NC1"]) == 3
    assert panel.features.top.value.count("<img") == 9
    assert panel.features.result.value.count("<img") == 1 and len(panel.features.trace.data["step"]) == STEPS + 1
    with unchanged(session.model):
        panel.features.facets()
    assert panel.error.value == "", panel.error.value
    assert panel.features.result.value.count("<img") == 3 and "facet 2" in panel.features.result.value


def test_unit_out_of_range_and_no_checkpoints(panel, digits):
    from explorer import Session
    from explorer.panels.geometry import GeometryPanel

    panel.features.unit.value = 999
    panel.features.maximise()
    assert "unit 999 does not exist" in panel.error.value
    bare = GeometryPanel(Session.open(digits, "mlp", device="cpu", epochs=0, seed=0, width=12))
    bare.collapse.recompute()
    assert "no checkpoints" in bare.error.value


def test_non_piecewise_linear_model_needs_linearise(digits, unchanged):
    import torch
    from torch import nn

    from explorer import Session
    from explorer.panels.geometry import GeometryPanel

    torch.manual_seed(0)
    c, h, w = digits.shape
    net = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 8), nn.Tanh(), nn.Linear(8, len(digits.classes)))
    s = Session.open(digits, net, device="cpu", epochs=0)
    panel = GeometryPanel(s)
    panel.linear.recompute()
    assert "not piecewise linear" in panel.error.value and "linearise=True" in panel.error.value
    panel.linear.linearise.value = True
    with unchanged(s.model):
        panel.linear.recompute()
    assert panel.error.value == "" and not panel.linear.map_.exact
    assert "tangent, not exact" in panel.linear.note.value


def test_similarity_minibatch_option(panel, session, unchanged):
    from explorer.geometry import minibatch_cka

    view = panel.similarity
    view.minibatch = 50
    with unchanged(session.model):
        view.debiased.value = "minibatch"
    assert panel.error.value == "", panel.error.value
    x = session.data.sample("test", view.max_points)[0]
    want = minibatch_cka(session.model, x, batch=50)
    np.testing.assert_allclose(view.cka_.values, want.values, atol=1e-6)
    assert view.cka_.debiased and len(view.source.data["value"]) == want.values.size
