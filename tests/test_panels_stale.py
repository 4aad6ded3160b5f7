"""Train while a panel's job computes (a running event loop, as in a kernel): the result for the old weights is
neither drawn nor served later; what is drawn is what a fresh computation on the current weights gives."""
import asyncio
import time

import numpy as np
import pytest

from .test_panel_common import run_loop

pytest.importorskip("jupyter_bokeh")


@pytest.fixture
def session(digits):
    from explorer import Session

    return Session.open(digits, "mlp", device="cpu", width=16, epochs=1, seed=0)


def test_codes_map_and_table_for_old_weights_are_not_drawn(session, kernel, monkeypatch):
    from explorer.codes import lab, session_codes
    from explorer.panels.codes import CodesPanel

    real = lab.embed
    monkeypatch.setattr(lab, "embed", lambda *a, **k: time.sleep(0.3) or real(*a, **k))
    monkeypatch.setattr(lab, "categorization", lambda feats, *a, **k: time.sleep(0.3) or [
        {"features": "codes", "bits on": int(feats["codes"][1].bits().sum())}])

    async def use():
        panel = CodesPanel(session)  # requests the map of the current weights
        panel.tables.categorize()
        session.train(epochs=2, seed=5)  # meanwhile the user trains
        await asyncio.sleep(2.0)
        fresh = lab.embed(lab.map_bits(session, None, "test", 0, 3000), "PCA", 0)
        np.testing.assert_allclose(panel.maps.map_, fresh, atol=1e-5)  # the drawn map is of the new weights
        np.testing.assert_allclose(lab.session_map(session, max_points=3000), fresh, atol=1e-5)  # and served so
        on = int(session_codes(session, None, "test").bits().sum())
        assert f"<td>{on}</td>" in panel.tables.categorization.value
        assert lab.session_categorization(session)[0]["bits on"] == on

    run_loop(use())


def test_landscape_slice_for_old_weights_is_not_drawn(session, kernel):
    from explorer.landscape import lab
    from explorer.panels.landscape import LandscapePanel
    from explorer.train import evaluate

    async def use():
        panel = LandscapePanel(session, n_eval=64, n_shown=2)
        panel.slices.span.value, panel.slices.resolution.value = 0.5, 7
        panel.slices.recompute()
        session.train(epochs=2, seed=5)
        await asyncio.sleep(3.0)
        x, y = lab.eval_batch(session.data, 64)
        now = evaluate(session.model, x, y).loss
        assert panel.slices.surface_ is not None and panel.slices.surface_.complete
        assert panel.slices.surface_.loss[3, 3] == pytest.approx(now, abs=1e-5)  # the origin is the current model
        panel.slices.recompute()  # asked again: the stored slice is of the current weights too
        assert panel.slices.surface_.loss[3, 3] == pytest.approx(now, abs=1e-5)

    run_loop(use())
