"""PGD and the grokking run: known answers (epsilon 0 is the clean accuracy, monotone in epsilon, the ball and the
data range kept), hand-counted local complexity, log-spaced checkpoints, a cancellable job, models unchanged."""
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from explorer.codes.complexity import local_complexity
from explorer.codes.grokking import Settings, at_checkpoint, grokking_job, log_steps, train_run
from explorer.codes.pgd import adversarial_accuracy, pgd
from explorer.jobs import Cancelled

QUICK = Settings(steps=120, checkpoints=4, width=32, depth=2, eval_points=120, epsilon=0.1, pgd_steps=5)


@pytest.fixture(scope="module")
def run(digits):
    """A small run on the digits (about 1 s)."""
    return train_run(digits, QUICK)


def test_log_spaced_checkpoints_are_the_ones_asked_for(run):
    assert log_steps(1000, 4) == [0, 1, 10, 100, 1000]
    assert log_steps(100, 3) == [0, 1, 10, 100]
    assert log_steps(5, 10) == [0, 1, 2, 3, 4, 5]  # rounded repeats dropped
    assert run.steps == log_steps(120, 4) == [0, 1, 5, 24, 120]
    assert [r["step"] for r in run.rows] == run.steps and len(run.states) == len(run.steps)
    with pytest.raises(ValueError, match="total steps"):
        log_steps(0, 3)


def test_pgd_at_epsilon_0_is_the_clean_accuracy(run, unchanged):
    model, x, y = run.model(-1), run.x["test"], run.y["test"]
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    with unchanged(model):
        acc = adversarial_accuracy(model, x, y, [0.0], steps=5, bounds=run.bounds)
        adv, fooled = pgd(model, x, y, 0.0, steps=5, bounds=run.bounds)
    assert acc[0] == clean > 0.5
    assert torch.equal(adv, x)


def test_adversarial_accuracy_never_rises_in_epsilon(run, unchanged):
    model, x, y = run.model(-1), run.x["test"], run.y["test"]
    model.train()  # a mode PGD must restore
    eps = [0.3, 0.0, 0.02, 0.05, 0.1, 0.2]  # in any order: each value is its own epsilon's
    with unchanged(model):
        acc = adversarial_accuracy(model, x, y, eps, steps=5, seed=3, bounds=run.bounds, batch_size=37)
    by_eps = acc[np.argsort(eps)]
    assert np.all(np.diff(by_eps) <= 0) and by_eps[-1] < by_eps[0]
    again = adversarial_accuracy(model, x, y, eps, steps=5, seed=3, bounds=run.bounds, batch_size=37)
    np.testing.assert_array_equal(acc, again)  # a fixed seed: the same attack


def test_pgd_stays_in_the_ball_and_the_data_range(run):
    model, x, y = run.model(-1), run.x["test"], run.y["test"]
    for eps in (0.05, 0.3):
        adv, _ = pgd(model, x, y, eps, steps=4, step_size=0.2, seed=1, bounds=(0.0, 1.0))
        assert (adv - x).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    with pytest.raises(ValueError, match="epsilon"):
        pgd(model, x, y, -0.1)
    with pytest.raises(ValueError, match="NaN"):
        pgd(model, x.clone().fill_(float("nan")), y, 0.1)
    with pytest.raises(ValueError, match="data range"):
        pgd(model, x + 2, y, 0.1, bounds=(0.0, 1.0))


def test_local_complexity_by_hand_on_three_lines(unchanged):
    # first-layer units are the lines x = 0, y = 0 and x + y = 1; a 4-vertex cross-polytope of radius 0.1 crosses
    # a line closer than 0.1 / sqrt(2) and no line farther than 0.1
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
    x = torch.tensor([[5.0, 5.0], [-4.0, 3.0], [0.02, 3.0], [0.02, 0.03], [0.5, 0.52], [0.01, 0.98]])
    for seed in range(4):
        with unchanged(net):
            lc = local_complexity(net, x, radius=0.1, n_vertices=4, seed=seed)
        assert lc["total"].tolist() == [0, 0, 1, 2, 1, 2]


def test_run_rows_are_the_measures_of_its_checkpoints(run):
    s = run.settings
    assert run.rows[0]["train accuracy"] < 0.3 and run.rows[-1]["train accuracy"] > 0.8
    for i in (0, -1):
        lc = local_complexity(run.model(i), run.x["random"], None, s.radius, s.n_vertices, s.seed)["total"].mean()
        assert run.rows[i]["LC random"] == pytest.approx(float(lc))
        at = at_checkpoint(run, i, s.epsilon, resolution=30)
        assert at.adversarial == run.rows[i]["adversarial accuracy"]
        assert at.step == run.steps[i] and at.regions.ids.shape == (30, 30) and len(at.regions.anchors) == 3
    with pytest.raises(ValueError, match="checkpoint"):
        at_checkpoint(run, 99, 0.1)


def test_the_job_is_cancellable_and_streams_rows(digits):
    seen = []

    def progress(done, total, info=None):
        if info and "partial" in info:
            seen.append(len(info["partial"]))
        if done >= 50:
            raise Cancelled("stop")
    job = grokking_job(digits, Settings(steps=10_000, checkpoints=3, width=16, depth=1, eval_points=40))
    with pytest.raises(Cancelled):
        job.run(progress)
    assert seen == [1, 2]  # steps 0 and 1; cancelled at step 50, long before 10,000
    assert job.key == grokking_job(digits, Settings(steps=10_000, checkpoints=3, width=16, depth=1,
                                                    eval_points=40)).key
    with pytest.raises(ValueError, match="loss"):
        train_run(digits, Settings(steps=1, loss="hinge"))


def test_the_job_has_an_estimate_of_its_kept_states_and_time(digits, run):
    """The estimate's memory is the kept states and the trained-on images, counted; its time is positive and grows
    with the steps (three timed steps priced per step); the global RNG is left alone."""
    job = grokking_job(digits, QUICK)
    rng = torch.get_rng_state()
    e = job.estimate()
    assert torch.equal(rng, torch.get_rng_state())
    per_state = sum(v.numel() * v.element_size() for v in run.states[0].values())
    assert e.bytes == len(run.states) * per_state + run.x_train.numel() * 4
    assert 0 < e.seconds and "120 steps and 5 checkpoints" in e.what
    longer = grokking_job(digits, dataclasses.replace(QUICK, steps=100_000)).estimate()
    assert longer.seconds > 20 * e.seconds  # 800x the steps: the training dominates


def test_view_trains_draws_and_never_shows_an_answer_for_other_choices(digits, unchanged):
    pytest.importorskip("jupyter_bokeh")
    from explorer import Session
    from explorer.panels._common import ErrorLine
    from explorer.panels._view import LabState
    from explorer.panels.codes.grokking import GrokkingView

    session = Session(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), digits)  # the view trains an MLP of its own
    v = GrokkingView(LabState(session), ErrorLine(), QUICK)
    with unchanged(session.model):  # the run's MLP is its own
        v.train()  # headless: the job runs here and now
    assert v.error.value == "" and v.sources[1].data["x"] == [s + 1 for s in log_steps(120, 4)]
    assert v.checkpoint.max == 4 and v.checkpoint.value == 4 and not v.checkpoint.disabled
    first = v.at_
    assert first.index == 4 and "adversarial accuracy at ε = 0.10" in v.at.value and v.spans[0].location == 121
    v.epsilon.value = 0.0  # PGD at epsilon 0 is the clean test accuracy of the same inputs
    assert v.at_.adversarial == v.run_.rows[4]["test accuracy"] and "ε = 0.00" in v.at.value
    shown = v.at.value
    v._show(first)  # a late answer for epsilon 0.1: not drawn
    assert v.at.value == shown and v.at_.epsilon == 0.0
    v.checkpoint.value = 0
    assert v.at_.step == 0 and v.spans[1].location == 1 and v.error.value == ""
