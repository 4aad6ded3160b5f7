"""What the screen shows is the current model's answer, or it says it is not (issue 21): the epoch slider, weight
changes no version counter sees, results left on screen after training, superseded work, retraining."""
import asyncio
import copy
import gc
import time

import numpy as np
import pytest
import torch
from torch import nn

from .test_panel_common import run_loop

pytest.importorskip("jupyter_bokeh")


@pytest.fixture
def session(digits):
    """An MLP with three checkpoints (epochs 0, 1, 2); a fresh memo per test."""
    from explorer import Session

    return Session.open(digits, "mlp", device="cpu", width=16, depth=2, epochs=2, seed=0)


def at_checkpoint(session, i):
    """A fresh session on a copy of the model with checkpoint i loaded: what a view at epoch i must show."""
    from explorer import Session

    model = copy.deepcopy(session.model)
    model.load_state_dict(session.history.checkpoints[i][1])
    return Session(model, session.data)


def views(widget):
    """Every lab view inside a widget tree."""
    from explorer.panels._view import View

    found, stack = [], [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, View):
            found.append(w)
        stack.extend(getattr(w, "children", ()))
    return found


# --- 1. the training-time slider -----------------------------------------------------------------------------------
def test_codes_views_at_a_checkpoint_show_that_checkpoints_codes(session, monkeypatch):
    from explorer.codes import lab
    from explorer.panels.codes import CodesPanel

    monkeypatch.setattr(lab, "categorization", lambda feats, *a, **k: [
        {"features": "codes", "bits on": int(feats["codes"][1].bits().sum())}])
    panel = CodesPanel(session, max_points=300)
    now, now_metrics = panel.maps.map_.copy(), panel.maps.metrics.value
    for i in (0, 1):
        panel.choice.epoch.value = i
        fresh = at_checkpoint(session, i)
        want = lab.session_map(fresh, None, "test", "PCA", 0, 300)
        np.testing.assert_allclose(panel.maps.map_, want, atol=1e-6)
        assert not np.allclose(panel.maps.map_, now, atol=1e-3)  # not today's map under another label
        summary = fresh.run(lab.summary_job(fresh, None, "test", 0, 300))
        assert f"{summary['knn']:.3f}" in panel.maps.metrics.value and panel.maps.metrics.value != now_metrics
        panel.tables.categorize()
        assert f"<td>{lab.session_categorization(fresh)[0]['bits on']}</td>" in panel.tables.categorization.value
        panel.complexity.local_complexity()
        rows = fresh.run(lab.local_complexity_table_job(fresh, None, panel.state.radius))
        assert f"{rows[0]['total']:.4g}"[:5] in panel.complexity.lc.value
    panel.choice.epoch.value = -1
    np.testing.assert_allclose(panel.maps.map_, now, atol=1e-6)
    assert panel.error.value == ""


def test_landscape_interpolation_between_checkpoints_is_of_those_checkpoints(session):
    from explorer.landscape import lab
    from explorer.landscape.connect import interpolate
    from explorer.panels.landscape import LandscapePanel

    panel = LandscapePanel(session, n_eval=64, n_shown=2)
    panel.path.end_a.value, panel.path.end_b.value = "epoch 0", "epoch 1"
    panel.path.interpolate()
    x, y = lab.eval_batch(session.data, 64)
    ends = dict(session.history.checkpoints)
    want = interpolate(copy.deepcopy(session.model), ends[0], ends[1], x, y, alphas=panel.path.path_.alphas)
    np.testing.assert_allclose(panel.path.path_.loss, want.loss, atol=1e-6)


# --- 2. weight changes that no version counter sees -----------------------------------------------------------------
def data_write(model):
    next(model.parameters()).data.mul_(-1)


def vector_write(model):
    vec = torch.nn.utils.parameters_to_vector(model.parameters())
    torch.nn.utils.vector_to_parameters(-vec, model.parameters())


def assign_load(model):
    state = {k: -v if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(state, assign=True)


def swap_head(model):
    torch.manual_seed(1)
    model[-1] = nn.Linear(model[-1].in_features, model[-1].out_features)


CHANGES = {"p.data.mul_": data_write, "vector_to_parameters": vector_write, "load_state_dict(assign=True)": assign_load,
           "a new head": swap_head}


@pytest.mark.parametrize("change", list(CHANGES))
def test_weight_changes_no_counter_sees_are_seen(session, change):
    from explorer.train import evaluate
    from explorer.weights import weights_token

    before, token = session.evaluate("test").accuracy, weights_token(session.model)
    assert weights_token(session.model) == token  # unchanged weights: the same token
    CHANGES[change](session.model)
    fresh = evaluate(session.model, session.data.inputs("test"), session.data.labels("test")).accuracy
    assert fresh != before and weights_token(session.model) != token
    assert session.evaluate("test").accuracy == fresh


# --- 3. results on screen after the weights change ------------------------------------------------------------------
def open_labs(session):
    """Every lab on one session, each with results drawn."""
    from explorer.panels.codes import CodesPanel
    from explorer.panels.gallery import GalleryPanel
    from explorer.panels.geometry import GeometryPanel
    from explorer.panels.landscape import LandscapePanel
    from explorer.panels.saliency import SaliencyPanel

    codes, landscape = CodesPanel(session, max_points=200), LandscapePanel(session, n_eval=64, n_shown=2)
    landscape.slices.span.value, landscape.slices.resolution.value = 0.5, 7
    landscape.slices.recompute()
    landscape.path.interpolate()
    geometry = GeometryPanel(session)
    geometry.linear.recompute()
    geometry.similarity.recompute()
    geometry.collapse.recompute()
    codes.complexity.local_complexity()
    return {"codes": codes, "saliency": SaliencyPanel(session), "landscape": landscape, "geometry": geometry,
            "gallery": GalleryPanel(session)}


def assert_current_or_marked(panels):
    for name, panel in panels.items():
        for v in views(panel):
            assert v.current() or "computed for the weights before" in v.stale.value, (name, type(v).__name__)


def assert_cheap_views_show_the_new_weights(session, panels):
    from explorer.codes import lab
    from explorer.landscape import lab as landscape
    from explorer.train import evaluate

    codes, land = panels["codes"], panels["landscape"]
    np.testing.assert_allclose(codes.maps.map_, lab.session_map(session, None, "test", "PCA", 0, 200), atol=1e-6)
    x, y = landscape.eval_batch(session.data, 64)
    assert f"loss {evaluate(session.model, x, y).loss:.4f}" in land.live.readout.value  # (0, 0): the model now
    assert "computed for the weights before" in land.slices.stale.value  # its origin is the old model
    acc = session.evaluate("test").accuracy
    assert f"test accuracy {acc:.1%}" in panels["gallery"].summary.value
    assert panels["saliency"].maps.current()


def test_after_training_every_view_is_current_or_says_it_is_not(session):
    panels = open_labs(session)
    assert all(v.current() for p in panels.values() for v in views(p))
    session.train(epochs=1, seed=5)
    assert_current_or_marked(panels)
    assert_cheap_views_show_the_new_weights(session, panels)


@pytest.mark.parametrize("change", list(CHANGES))
def test_after_a_change_no_counter_sees_every_view_is_current_or_says_it_is_not(session, change):
    panels = open_labs(session)
    CHANGES[change](session.model)
    session.changed()  # what runs after each notebook cell (explorer.executor.after_each_cell)
    assert_current_or_marked(panels)
    assert_cheap_views_show_the_new_weights(session, panels)


def test_a_change_made_in_a_notebook_cell_reaches_the_views(digits):
    """In a real IPython shell the views hear of a cell's change after the cell, with no call of the user's."""
    from IPython.core.interactiveshell import InteractiveShell

    from explorer import Session
    from explorer.panels.gallery import GalleryPanel

    shell = InteractiveShell.instance()
    try:
        session = Session.open(digits, "mlp", device="cpu", width=16, epochs=1, seed=0)
        gallery = GalleryPanel(session)
        before = gallery.summary.value
        shell.user_ns["model"] = session.model
        shell.run_cell("next(model.parameters()).data.mul_(-1)")
        assert gallery.summary.value != before
        assert f"test accuracy {session.evaluate('test').accuracy:.1%}" in gallery.summary.value
    finally:
        InteractiveShell.clear_instance()


# --- 4. superseded work under load ----------------------------------------------------------------------------------
def rss() -> int:
    """The process's resident memory in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def pinged(work, period: float = 0.05) -> float:
    """Run work() while a ping measures how late the loop answers; the worst lateness in seconds."""
    worst, stop = [0.0], asyncio.Event()

    async def ping():
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(period)
            worst[0] = max(worst[0], time.perf_counter() - start - period)
    task = asyncio.create_task(ping())
    await work()
    stop.set()
    await task
    return worst[0]


def test_fifty_slice_presses_run_at_most_two_slices(session, kernel, monkeypatch):
    from explorer.landscape import lab
    from explorer.panels.landscape import LandscapePanel

    started, real = [], lab.slice_job

    def counted(*a, **k):
        job = real(*a, **k)
        compute = job.compute
        return type(job)(job.key, job.prepare, lambda p, progress: started.append(job.key) or compute(p, progress),
                         job.title, job.estimate)
    monkeypatch.setattr(lab, "slice_job", counted)

    async def use():
        panel = LandscapePanel(session, n_eval=256, n_shown=2)
        panel.slices.resolution.value = 21
        gc.collect()
        before = rss()

        async def presses():
            for i in range(50):
                panel.slices.span.value = 0.5 + 0.01 * i
                panel.slices.recompute()
                await asyncio.sleep(0.04)
            while session.jobs().busy(panel.slices):
                await asyncio.sleep(0.05)
        worst = await pinged(presses)
        assert worst < 0.25, worst
        assert len(started) <= 2 and panel.slices.surface_.complete
        assert panel.slices.surface_.alphas[-1] == pytest.approx(0.5 + 0.01 * 49)  # the last press's slice
        gc.collect()
        assert rss() - before < 20e6, (rss() - before) / 1e6
        assert panel.error.value == ""

    run_loop(use())


def test_a_hundred_image_moves_compute_at_most_ten_maps_and_show_the_last(kernel):
    from explorer import Session
    from explorer.panels.saliency import SaliencyPanel
    from explorer.saliency import explain

    session = Session.open("block-digits", epochs=0, device="cpu")

    async def use():
        panel = SaliencyPanel(session)
        while any(session.jobs().busy(v) for v in views(panel)):
            await asyncio.sleep(0.02)
        computes = panel.maps.computes + panel.compare.explainers.computes

        async def moves():
            for i in range(1, 101):  # a drag: back-to-back messages, the loop runs between them
                panel.maps.index.value = i
                await asyncio.sleep(0)
            await asyncio.sleep(0.5)
            while any(session.jobs().busy(v) for v in views(panel)):
                await asyncio.sleep(0.02)
        worst = await pinged(moves)
        assert worst < 0.25, worst
        assert panel.maps.computes + panel.compare.explainers.computes - computes <= 10
        st = panel.state
        want = explain(session.model, session.data.inputs("test")[100:101], st.method, st.layers(),
                       [st.target_class(100)])[0].numpy()
        np.testing.assert_allclose(panel.maps.cam_, want, atol=1e-6)
        assert panel.maps.caption.value.startswith("image 100:") and panel.error.value == ""
        assert panel.compare.compare_caption.value.split("; images ")[1].startswith("100, 101")

    run_loop(use())


# --- 5. retraining with fewer epochs -------------------------------------------------------------------------------
def test_retraining_with_fewer_epochs_offers_the_new_checkpoints(session):
    from explorer.codes import lab
    from explorer.panels.codes import CodesPanel

    panel = CodesPanel(session, max_points=200)
    panel.choice.epoch.value = 2
    session.train(epochs=0, seed=3)  # one checkpoint now: the initial weights
    assert [v for _, v in panel.choice.epoch.options] == [0, -1] and panel.choice.epoch.value == -1  # 0, "now"
    assert panel.error.value == ""
    np.testing.assert_allclose(panel.maps.map_, lab.session_map(session, None, "test", "PCA", 0, 200), atol=1e-6)
    panel.choice.epoch.value = 0
    assert panel.error.value == ""
