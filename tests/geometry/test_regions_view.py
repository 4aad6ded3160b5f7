"""The regions view on the tour's default model (digits CNN, 15 epochs): its defaults show regions larger than a
cell and more than one class; a grid too coarse for the regions says so."""
import numpy as np
import pytest

pytest.importorskip("jupyter_bokeh")


@pytest.fixture
def view(trained_session):
    from explorer.panels.geometry import GeometryPanel

    return GeometryPanel(trained_session).regions


def test_default_view_resolves_regions_and_draws_the_classes(view, trained_session, unchanged):
    """Before: every layer on the three inputs' box, 10,000 regions in 10,000 cells, and a black class view (the
    region boundaries drawn over every cell)."""
    with unchanged(trained_session.model):
        view.recompute()
    assert view.error.value == "", view.error.value
    r = view.regions_
    assert r.ids.shape == (100, 100) and view.layer.value == "relu1" and view.zoom.value == "auto"
    assert r.ids.size / r.count >= 20 and r.resolved  # regions of many cells on average, most not one cell
    assert "span 1/30 of theirs" in view.summary.value  # the whole box and 1/3, 1/10 of it: confetti
    assert "cannot resolve" not in view.summary.value
    view.colour.value = "class"
    img = np.asarray(view.map_source.data["image"][0])
    assert len(np.unique(img)) > 1 and set(np.unique(img)) <= set(range(len(trained_session.data.classes)))
    edges = np.isfinite(np.asarray(view.map.edge_source.data["image"][0]))
    assert 0 < edges.mean() < 0.1  # the decision boundary: a line, not every cell
    assert view.legend.value.count("background:") == len(np.unique(img))  # one swatch a class on the map
    assert view.map.mapper.palette[0] != view.map.mapper.palette[1]


def test_coarse_grid_says_it_cannot_resolve_the_regions(view):
    """Every layer over the whole box of the three inputs on 50² cells: most regions are one cell."""
    view.layer.value, view.zoom.value, view.resolution.value = "all", 1.0, 50
    view.recompute()
    assert view.error.value == "", view.error.value
    assert not view.regions_.resolved
    n = view.regions_.count
    assert f"{n:,} regions in 2,500 cells: the grid cannot resolve them" in view.summary.value
    assert "zoom in or pick fewer layers" in view.summary.value
