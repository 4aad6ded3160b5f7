"""Views with several buttons in a saved tour: the restore runs again the handlers that drew what each showed (not
only the default one), here and now or on the executor in a kernel, and says when one cannot be run again."""
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("jupyter_bokeh")

from explorer.app import Tour, open_tour  # noqa: E402
from explorer.panels.plaindata import differences  # noqa: E402
from explorer.panels.snapshot import shown  # noqa: E402

from .conftest import assert_unchanged, model_fingerprint  # noqa: E402
from .test_panel_common import run_loop  # noqa: E402

LABS = ("Saliency", "Neural codes", "Geometry")


def views(tour) -> dict:
    """The three multi-button views of a tour, by name."""
    p = {title: tab.children[0] for title, tab in zip(tour.labs, tour.tabs.children) if tab.children}
    return {"trust": p["Saliency"].trust, "tables": p["Neural codes"].tables, "features": p["Geometry"].features}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tour trained 1 epoch whose views show the results of buttons other than their first: the trust metrics
    (and the sanity curves), the codes' table over training, a unit's top images and facets (not 'maximise');
    saved, and opened again outside a kernel."""
    path = tmp_path_factory.mktemp("actions") / "tour.pt"
    tour = Tour(epochs=1, device="cpu")
    tour.train()
    for title in LABS:
        tour.tabs.selected_index = list(tour.labs).index(title)
    v = views(tour)
    v["trust"].trust_n.value = 2  # a choice away from its default: set again before the metrics are computed again
    v["features"].unit.value = 3
    before = model_fingerprint(tour.session.model)
    v["trust"].sanity()
    v["trust"].metrics()
    v["tables"].over_training()
    v["features"].show_top()
    v["features"].facets()
    assert_unchanged(tour.session.model, before)
    assert all(w.error.value == "" for w in v.values()), [w.error.value for w in v.values()]
    shows = {k: shown(w) for k, w in v.items()}
    tour.save(path)
    return tour, path, shows, open_tour(path, device="cpu")


def test_the_file_keeps_the_handlers_that_drew_each_place(saved):
    meta = torch.load(saved[1], weights_only=True)["meta"]
    assert list(meta["labs"]["Saliency"]["acts"].values()) == [{"curves": "sanity", "table": "metrics"}]
    assert list(meta["labs"]["Neural codes"]["acts"].values()) == [{"table": "over_training"}]
    assert list(meta["labs"]["Geometry"]["acts"].values()) == [{"top": "show_top", "result": "facets"}]


@pytest.mark.parametrize("name", ["trust", "tables", "features"])
def test_the_restored_view_shows_the_same_result(saved, name):
    tour, _, shows, again = saved
    view = views(again)[name]
    assert differences(shows[name], shown(view), name) == []
    assert view.last_ == views(tour)[name].last_ and view.shown_ is not None
    assert not any(view.again in p for p in again.restored_.press)


def test_what_each_view_shows_and_nothing_left_to_press(saved):
    tour, _, _, again = saved
    v = views(again)
    assert again.restored_.press == [] and again.restored_.problems == [] and again.restored_.differences == []
    assert "faithfulness" in v["trust"].trust_table.value and v["trust"].trust_n.value == 2
    assert v["trust"].sanity_["layers"] == views(tour)["trust"].sanity_["layers"]
    assert v["tables"].categorization.value.startswith("Over training") and "Over training" in views(tour)[
        "tables"].categorization.value
    assert v["features"].unit.value == 3 and v["features"].top.value.count("<img") == 9
    assert v["features"].result.value.count("<img") == 3 and "facet 2" in v["features"].result.value
    own, back = tour.session.model.state_dict(), again.session.model.state_dict()
    assert all(torch.equal(own[k], back[k]) for k in own) and again.session.model.training is False


def test_a_handler_the_view_does_not_have_is_a_problem_not_an_empty_view(saved, tmp_path):
    blob = torch.load(saved[1], weights_only=True)
    lab = blob["meta"]["labs"]["Saliency"]
    blob["meta"]["labs"] = {"Saliency": lab}
    (where,) = lab["acts"]
    lab["acts"][where] = {"table": "judge"}
    torch.save(blob, tmp_path / "odd.pt")
    done = open_tour(tmp_path / "odd.pt", device="cpu").restored_
    assert any("TrustView cannot compute 'judge' again" in p and "sanity, metrics" in p for p in done.problems)
    assert any(d.startswith("Saliency") for d in done.differences)  # the saved table is not shown: said too


def test_in_a_kernel_each_views_handlers_run_one_after_the_other(saved, kernel):
    """On the executor a view runs one job at a time (a new one cancels the running one): the second handler runs
    once the first one's result is drawn, so both the sanity curves and the metrics come back."""
    import asyncio

    async def use():
        again = open_tour(saved[1], device="cpu")
        assert again.restored_.differences is None
        for _ in range(240):  # at most 60 s: the three labs' jobs, a few seconds each
            await asyncio.sleep(0.25)
            if not again.restored_.check(again):
                break
        assert again.restored_.check(again) == [] and again.restored_.press == []
        trust = views(again)["trust"]
        assert trust.sanity_ is not None and "faithfulness" in trust.trust_table.value and trust.todo_ == []

    run_loop(use(), timeout=120)


def test_handlers_that_fail_again_are_a_problem_not_an_empty_view(saved, tmp_path):
    """The file's unit no longer exists (a choice edited by hand): both handlers fail, and the restore says so."""
    blob = torch.load(saved[1], weights_only=True)
    lab = blob["meta"]["labs"]["Geometry"]
    blob["meta"]["labs"] = {"Geometry": lab}
    unit = next(c for c in lab["choices"]["controls"] if c["description"] == "unit")
    unit["value"] = 999
    torch.save(blob, tmp_path / "gone.pt")
    again = open_tour(tmp_path / "gone.pt", device="cpu")
    assert any("FeaturesView shows nothing again" in p and "press the button again" in p
               for p in again.restored_.problems), again.restored_.problems
    geometry = again.tabs.children[list(again.labs).index("Geometry")].children[0]
    assert "999" in geometry.error.value and geometry.features.shown_ is None


def test_a_press_during_a_recompute_drops_the_rest_of_its_chain(saved, kernel):
    """The user's own press while a recompute's chain runs replaces the chain: the handlers not yet started do not
    run after the user's result is drawn (they ran again, unasked, before)."""
    import asyncio

    async def settle(view):
        for _ in range(240):  # at most 60 s
            await asyncio.sleep(0.25)
            if not view.session.jobs().busy(view) and not view.todo_:
                return

    async def use():
        again = open_tour(saved[1], device="cpu")  # in the kernel: its jobs run on the executor
        trust = views(again)["trust"]
        await settle(trust)  # the restore's own chain
        calls, metrics = [], trust.metrics
        trust.metrics = lambda *a: (calls.append(1), metrics(*a))[1]  # the chain and the button both find it here
        trust.mode.value = "independent"  # curves not computed yet (the restore's are cascading): a job that runs
        trust.last_ = {"curves": "sanity", "table": "metrics"}
        trust.recompute()  # the sanity curves' job runs; the metrics wait for its result
        assert trust.todo_ == ["metrics"] and trust.session.jobs().busy(trust)
        trust.metrics()  # the user presses 'metrics' before the curves are back: their job is cancelled
        await settle(trust)
        await asyncio.sleep(1.0)
        assert calls == [1] and trust.todo_ == [] and not trust.session.jobs().busy(trust)
        assert "faithfulness" in trust.trust_table.value

    run_loop(use(), timeout=180)
