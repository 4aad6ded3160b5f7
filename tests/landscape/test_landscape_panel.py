"""The landscape panel, headless: a live point without recomputation, errors shown, barriers and spectrum drawn."""
import numpy as np
import pytest

pytest.importorskip("jupyter_bokeh")


@pytest.fixture(scope="module")
def session(digits):
    """A small MLP on digits trained 2 epochs (checkpoints 0, 1, 2): quick Hessians and slices."""
    from explorer import Session

    return Session.open(digits, "mlp", device="cpu", epochs=2, seed=0, width=12, batchnorm=True)


@pytest.fixture
def panel(session):
    from explorer.panels.landscape import LandscapePanel

    return LandscapePanel(session, n_eval=64, n_shown=4)


def test_slice_then_live_point_without_recompute(panel, session, monkeypatch, unchanged):
    import explorer.landscape.slices as mod

    panel.slices.span.value, panel.slices.resolution.value = 0.6, 7
    seen, redraw = [], panel.slices.redraw
    panel.slices.redraw = lambda *a: (redraw(), seen.append((int(panel.slices.surface_.done.sum()),
                                                             np.asarray(panel.slices.map_source.data["image"][0]))))
    with unchanged(session.model):
        panel.slices.recompute()
    assert seen[0][0] == 9 and seen[0][1].shape == (7, 7) and np.isfinite(seen[0][1]).all()  # preview drawn first
    assert seen[-1][0] == 49 and not np.array_equal(seen[0][1], seen[-1][1])  # then refined in place
    assert panel.error.value == "" and panel.slices.surface_.complete
    assert np.asarray(panel.slices.map_source.data["image"][0]).shape == (7, 7)
    assert panel.slices.progress.bar.value == panel.slices.progress.bar.max == 49
    calls = []
    monkeypatch.setattr(mod, "slice_grid", lambda *a, **k: calls.append(1))
    shown, image, curve = panel.live.readout.value, panel.slices.map_source.data["image"], panel.slices.curve.data["y"]
    with unchanged(session.model):
        panel.live.alpha.value = 0.2
    # a move along α: the map and the β-row curve are not sent to the page again, only the marker
    assert panel.slices.map_source.data["image"] is image and panel.slices.curve.data["y"] is curve
    panel.live.beta.value = 0.2
    np.testing.assert_array_equal(panel.slices.curve.data["y"], panel.slices.surface_.loss[:, 4])  # the curve follows β
    panel.live.beta.value = 0.0
    assert panel.slices.marker.data["x"] == [0.2] and panel.slices.curve_at.location == 0.2
    assert panel.live.readout.value != shown and "α=+0.200" in panel.live.readout.value
    assert not calls  # the grid is not recomputed for a move
    loss = float(panel.live.readout.value.split("loss ")[1].split("<")[0])
    assert loss == pytest.approx(panel.slices.surface_.loss[4, 3], abs=1e-4)  # the grid point (0.2, 0)
    panel.slices.recompute()  # same settings: memoised, not recomputed
    assert not calls and panel.error.value == ""
    panel.slices.quantity.value = "accuracy"
    assert np.nanmax(panel.slices.map_source.data["image"][0]) <= 1.0


def test_zero_range_shows_an_error(panel, session, unchanged):
    panel.slices.span.value = 0.0
    with unchanged(session.model):
        panel.slices.recompute()
    assert "zero range" in panel.error.value and panel.slices.surface_ is None


def test_pca_axes_draw_the_trajectory(panel, session):
    panel.slices.kind.value, panel.slices.resolution.value, panel.slices.span.value = "pca", 7, 0.5
    panel.slices.recompute()
    assert panel.error.value == "" and len(panel.slices.trajectory.data["x"]) == len(session.history.checkpoints) == 3


def test_interpolation_and_spectrum(panel, session, unchanged):
    assert panel.path.end_a.value == "epoch 0" and panel.path.end_b.value == "current model"
    panel.path.path_bn.value = True
    with unchanged(session.model):
        panel.path.interpolate()
        panel.hessian.top_k.value = 2
        panel.hessian.compute()
    assert panel.error.value == ""
    assert len(panel.path.path_source.data["x"]) == 49 and "Entezari" in panel.path.barrier.value
    panel.path.align.value = True
    panel.path.interpolate()
    assert panel.error.value == "" and "Entezari" in panel.path.barrier.value
    assert len(panel.hessian.spectrum_["top"]) == 2 and "trace" in panel.hessian.spectrum.value
    bar = panel.hessian.hess_progress.bar
    assert bar.value == bar.max == 3  # the three stages were shown
    assert len(panel.hessian.density_source.data["x"]) == 300


def test_per_layer_hessian_over_training(panel, session, unchanged):
    """One curve per checkpoint plus the current model, each equal to layer_spectra on that checkpoint's weights;
    the activation Hessian's top eigenvalues on the current model; the CSV export carries them."""
    import copy

    from explorer.landscape import layer_spectra, parameter_groups
    from explorer.landscape.lab import eval_batch
    from explorer.panels.landscape import layer_table

    view = panel.layers
    view.n = 64
    view.over.value = True
    with unchanged(session.model):
        view.compute()
    assert panel.error.value == ""
    names = parameter_groups(session.model, "layer")
    assert list(view.result_) == ["epoch 0", "epoch 1", "epoch 2", "current model"]
    assert view.lines.data["label"] == list(view.result_) and len(view.traces.data["x"]) == 4 * len(names)
    assert view.figure.xaxis.major_label_overrides == dict(enumerate(names))
    twin = copy.deepcopy(session.model)
    twin.load_state_dict(session.history.checkpoints[1][1])
    x, y = eval_batch(session.data, 64, "train")
    direct = layer_spectra(twin, x, y, groups=names, trace_samples=20, seed=0)
    # the same inputs, seed and Lanczos settings; float64 sums may differ with the executor thread's torch threads
    assert [g.top[0] for g in view.result_["epoch 1"]] == pytest.approx([g.top[0] for g in direct], rel=1e-6)
    assert view.lines.data["ys"][1] == pytest.approx([g.top[0] for g in direct], rel=1e-6)
    i = 1  # the whisker is the trace ± 2 SE
    row = view.result_["epoch 0"][i]
    assert view.traces.data["upper"][i] - view.traces.data["trace"][i] == pytest.approx(2 * row.trace_se)
    view.wrt.value = "activations"
    assert view.over.disabled
    view.compute()
    assert panel.error.value == "" and list(view.result_) == names
    assert len(view.lines.data["ys"]) == 1 and view.traces.data["x"] == []
    assert [r["layer"] for r in layer_table(view.result_)] == names


def test_export_after_slice_path_and_spectrum(panel, session, tmp_path):
    import csv

    panel.export.folder.value = str(tmp_path)
    names = sorted(p.name.split("-", 3)[-1] for p in panel.export.save())
    assert names == sorted(["slice.html", "slice-1d.html", "interpolation.html", "hessian-density.html",
                            "layer-hessian.html", "layer-trace.html"])
    panel.slices.span.value, panel.slices.resolution.value = 0.5, 7
    panel.slices.recompute()
    panel.path.interpolate()
    panel.hessian.compute()
    paths = {p.name.split("-", 3)[-1]: p for p in panel.export.save()}
    rows = list(csv.DictReader(paths["slice.csv"].open()))
    assert len(rows) == 49 and {r["alpha"] for r in rows} == {str(float(a)) for a in panel.slices.surface_.alphas}
    centre = [r for r in rows if float(r["alpha"]) == 0 and float(r["beta"]) == 0]
    assert float(centre[0]["loss"]) == panel.slices.surface_.loss[3, 3]
    assert len(list(csv.DictReader(paths["interpolation.csv"].open()))) == 49
    html = paths["slice.html"].read_text()
    assert "<html" in html.lower() and "Bokeh" in html and "cdn.bokeh.org" not in html  # standalone, offline


def test_aligned_interpolation_on_the_default_cnn(digits, unchanged):
    from explorer import Session
    from explorer.panels.landscape import LandscapePanel

    s = Session.open(digits, "cnn", device="cpu", epochs=1, seed=0, width=4)
    p = LandscapePanel(s, n_eval=64, n_shown=2)
    p.path.align.value = True
    with unchanged(s.model):
        p.path.interpolate()
    assert p.error.value == "" and "Entezari" in p.path.barrier.value
