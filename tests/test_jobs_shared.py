"""The notebooks' functions and the panels run the same core job for each result: spy on the job factories."""
import pytest

pytest.importorskip("jupyter_bokeh")


def spy(monkeypatch, module, name):
    """Record every job the factory module.name makes."""
    made, real = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    return made


def test_codes_map_and_tables(digits, monkeypatch):
    from explorer import Session
    from explorer.codes import lab
    from explorer.panels.codes import CodesPanel

    session = Session.open(digits, "mlp", device="cpu", width=8, epochs=1)
    maps, tables = spy(monkeypatch, lab, "embed_job"), spy(monkeypatch, lab, "categorization_job")
    monkeypatch.setattr(lab, "categorization", lambda feats, *a, **k: [{"features": f} for f in feats])
    panel = CodesPanel(session)
    panel.tables.categorize()
    assert [j.key for j in maps] == [lab.map_key(session, None, "test", "PCA", 0, 3000)]
    hits = session.hits
    assert lab.session_map(session, max_points=3000) is panel.maps.map_  # the notebook gets what the panel drew
    assert lab.session_categorization(session) == panel.tables.tables_["categorization"]
    assert session.hits == hits + 2 and tables[-1].key == tables[0].key


def test_landscape_slice_and_spectrum(digits, monkeypatch):
    from explorer import Session
    from explorer.landscape import lab
    from explorer.panels.landscape import LandscapePanel

    session = Session.open(digits, "mlp", device="cpu", width=8, epochs=1)
    slices, spectra = spy(monkeypatch, lab, "slice_job"), spy(monkeypatch, lab, "spectrum_job")
    panel = LandscapePanel(session, n_eval=32, n_shown=2)
    panel.slices.span.value, panel.slices.resolution.value = 0.5, 7
    panel.slices.recompute()
    panel.hessian.top_k.value = 1
    panel.hessian.compute()
    axes = session.run(lab.axes_job(session, "random", "filter", 0))
    assert session.run(lab.slice_job(session, axes, "random", "filter", 0, 0.5, 7, "keep", 32)) is panel.slices.surface_
    assert session.run(lab.spectrum_job(session, 1, 0)) is panel.hessian.spectrum_
    assert {j.key for j in slices} == {slices[0].key} and {j.key for j in spectra} == {spectra[0].key}


def test_saliency_ranking(monkeypatch):
    from explorer import Session
    from explorer.panels.saliency import SaliencyPanel
    from explorer.saliency import lab

    session = Session.open("block-digits", epochs=0, device="cpu")
    made = spy(monkeypatch, lab, "rank_job")
    panel = SaliencyPanel(session)
    panel.compare.compare_methods.value = ("Grad-CAM",)
    panel.ranking.eval_n.value = 4
    panel.ranking.evaluate()
    rows = session.run(lab.rank_job(session, ["Grad-CAM"], 4, "test", panel.state.layers()))
    assert rows == panel.ranking.rows_ and made[0].key == made[1].key
