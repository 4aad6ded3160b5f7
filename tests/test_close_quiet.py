"""A closed panel with bokeh plots is collected in silence: no "Exception ignored in Widget.__del__" (issue 22.11)."""
import gc
import sys

import pytest

pytest.importorskip("jupyter_bokeh")


@pytest.fixture
def unraisable(monkeypatch):
    """What Python would print as "Exception ignored in ...", collected instead."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(f"{u.exc_type.__name__}: {u.object!r}"[:300]))
    return seen


@pytest.mark.parametrize("spec", ["explorer.panels.landscape:LandscapePanel", "explorer.panels.geometry:GeometryPanel"])
def test_closed_bokeh_panel_is_collected_quietly(trained_session, unraisable, spec):
    from explorer.app import load_panel
    panel = load_panel(spec)(trained_session)
    panel.close()
    del panel
    gc.collect()
    assert unraisable == []


def test_closed_bokeh_model_is_collected_quietly(unraisable):
    from bokeh.plotting import figure
    from jupyter_bokeh import BokehModel

    from explorer.panels._common import close_tree

    fig = figure()
    fig.line([0, 1], [1, 0])
    w = BokehModel(fig)
    close_tree(w)
    del w
    gc.collect()
    assert unraisable == []
    assert fig.document is None  # the figure left its document with the widget
