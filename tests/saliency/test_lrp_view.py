"""The LRP view headless: a rule change submits one job, and the score drawn is the new rules' (never an older one)."""
import pytest

pytest.importorskip("ipywidgets")


def test_rule_change_updates_the_score():
    from explorer import Session
    from explorer.panels.saliency import SaliencyPanel

    session = Session.open("block-digits", epochs=0, device="cpu")
    panel = SaliencyPanel(session)
    view = panel.lrp
    assert view.request_ is None  # nothing computed before its tab is opened
    panel.tabs.selected_index = 3
    assert panel.error.value == "", panel.error.value
    first = view.scores_[-1]
    assert "deletion AUC" in view.score.value and bytes(view.image.value).startswith(b"\x89PNG")
    map_before = view.result_["map"].copy()
    view.knobs.widgets["conv"].value = "flat"
    assert panel.error.value == "", panel.error.value
    assert len(view.scores_) == 2 and view.scores_[-1] != first
    assert (view.result_["map"] != map_before).any()
    assert f"{view.scores_[-1]['deletion_auc']:.3f}" in view.score.value
    stale = view.request_
    view.knobs.widgets["gamma"].value = 0.5  # a newer choice: an older request's result is not drawn
    view._show({**view.result_, "deletion_auc": 9.0}, stale)
    assert "9.000" not in view.score.value and len(view.scores_) == 3
    panel.state.index = 4  # the image follows the lab's choice
    assert view.request_[2] == 4 and len(view.scores_) == 4


def test_a_knob_shows_the_label_its_class_gives():
    """LRP's alpha-beta knob is not shown as 'alpha', the name of the overlay's opacity slider beside it."""
    from explorer.panels.saliency.knobs import knob_widget
    from explorer.saliency.lab import knobs
    from explorer.saliency.methods import METHODS

    spec = knobs(METHODS["LRP"])
    assert "alpha" not in knob_widget("alpha", spec["alpha"]).description.lower()
    assert knob_widget("gamma", spec["gamma"]).description == "gamma"  # no label given: the parameter's name
