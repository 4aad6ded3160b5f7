"""The DFF and TCAV views headless (jobs run at once outside a kernel): what they draw is what the core computes on
the current weights and choices, never an older result; bad input is a clear message in the panel; the example sets
picked from the data by text."""
import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")

from explorer.saliency.concept_sets import pick, tcav_sets  # noqa: E402
from explorer.saliency.dff import concept_overlay, deep_feature_factorization, factorization_image, rainbow  # noqa: E402
from explorer.saliency.tcav import CAVEAT, tcav  # noqa: E402


def views(session):
    """(state, error line, DFF view, TCAV view) of a saliency lab state on the session (no panel around them)."""
    from explorer.panels._common import ErrorLine
    from explorer.panels.saliency.dff import DffView
    from explorer.panels.saliency.state import SaliencyState
    from explorer.panels.saliency.tcav import TcavView
    from explorer.saliency.lab import cam_layers, default_layer

    layers = cam_layers(session)
    state = SaliencyState(session, layer_order=tuple(layers), layer=default_layer(session, layers))
    error = ErrorLine()
    return state, error, DffView(state, error), TcavView(state, error, session.data.classes, sorted(session.data.x))


@pytest.fixture(scope="module")
def lab():
    from explorer import Session

    session = Session.open("block-digits", epochs=0, device="cpu")
    return (session, *views(session))


def test_pick_reads_classes_indices_and_ranges():
    labels = np.array([0, 1, 2, 1, 0, 2, 1])
    assert pick("class 1", labels).tolist() == [1, 3, 6]
    assert pick("class b", labels, ("a", "b", "c")).tolist() == [1, 3, 6]  # by name
    assert pick(" 5 , 0-2, class 2", labels).tolist() == [0, 1, 2, 5]  # sorted, unique
    assert pick("all", labels).tolist() == list(range(7))
    for spec, said in [("", "empty"), ("class 3", "no such class"), ("4-2", "upwards"), ("0-7", "0..6"),
                       ("dogs", "write 'class 3'"), ("class z", "no such class")]:
        with pytest.raises(ValueError, match=said):
            pick(spec, labels, ("a", "b", "c"))
    with pytest.raises(ValueError, match="names no images"):
        pick("class 2", np.array([0, 1]), ("a", "b", "c"))  # a class without images in this split


def test_tcav_sets_keep_the_concept_out_of_the_randoms(lab):
    data = lab[0].data
    concept, pool, inputs, words = tcav_sets(data, "test", "class 1", "class 1, class 2, class 4", 3, 5)
    y = data.labels("test")
    ones, twos = (y == 1).nonzero()[:, 0], ((y == 2) | (y == 4)).nonzero()[:, 0]
    x = data.inputs("test")
    torch.testing.assert_close(concept, x[ones], rtol=0, atol=0)
    torch.testing.assert_close(pool, x[twos], rtol=0, atol=0)  # the concept's images are not random ones
    torch.testing.assert_close(inputs, x[(y == 3).nonzero()[:5, 0]], rtol=0, atol=0)
    assert f"{len(ones)} images, random sets of {len(ones)} from {len(twos)}" in words
    with pytest.raises(ValueError, match="at least 2"):
        tcav_sets(data, "test", "7", "all", 0)
    with pytest.raises(ValueError, match="each random set needs"):  # too few random images for sets of its size
        tcav_sets(data, "test", "class 1", "0-3", 0)


def test_concept_overlay_is_factorization_image_at_the_map_size():
    maps = np.random.default_rng(0).random((3, 4, 2))
    photo = np.random.default_rng(1).integers(0, 256, (4, 2, 3), dtype=np.uint8)
    np.testing.assert_array_equal(concept_overlay(photo, maps), factorization_image(photo / 255.0, maps))
    assert concept_overlay(np.zeros((8, 4, 3), np.uint8), maps).shape == (8, 4, 3)  # resized to a larger photo


def test_dff_view_draws_what_the_core_computes(lab, unchanged):
    session, state, error, dff, _ = lab
    state.index = 5
    dff.layer.value, dff.components.value, dff.n_images.value = "relu3", 3, 2
    with unchanged(session.model):
        dff.factorize()
    assert error.value == "", error.value
    ours = deep_feature_factorization(session.model, session.data.inputs("test")[[5, 6]], "relu3", 3, top_k=3)
    np.testing.assert_allclose(dff.result_.maps, ours.maps, atol=1e-6)
    tiles = [concept_overlay(p, m, rainbow(3)) for p, m in zip(session.data.display("test", [5, 6]), ours.maps)]
    from PIL import Image

    shown = np.asarray(Image.open(__import__("io").BytesIO(dff.image.value)).convert("RGB"))
    step = shown.shape[0] // tiles[0].shape[0]  # sharp enlargement: every step-th pixel is the tile's
    np.testing.assert_array_equal(shown[::step, :tiles[0].shape[1] * step:step], tiles[0])
    legend = dff.legend.value
    top = ours.top[0, 0]
    assert legend.count("<tr>") == 4 and f"{session.data.classes[top]} ({ours.scores[0, top]:.2f})" in legend
    assert "relu3" in dff.caption.value and "5, 6" in dff.caption.value and dff.changed.value == ""
    dff.components.value = 4  # the drawn result is not for this choice any more: said, until pressed again
    assert "choices changed" in dff.changed.value
    dff.factorize()
    assert dff.changed.value == "" and dff.result_.maps.shape[1] == 4 and dff.legend.value.count("<tr>") == 5
    drawn, older = dff.image.value, dff.request_
    dff.components.value = 2
    dff.request_ = dff.request()  # a newer request is out: the older one's result, arriving late, is not drawn
    dff._show(ours, older)
    assert dff.image.value == drawn and dff.result_.maps.shape[1] == 4


def test_dff_bad_choice_is_shown_and_the_view_lives(lab):
    _, _, error, dff, _ = lab
    dff.layer.value, dff.components.value = "conv1", 20  # conv1 has 16 channels
    dff.factorize()
    assert "choose 1..16" in error.value
    dff.components.value = 2
    dff.factorize()
    assert error.value == "" and dff.result_.maps.shape[1] == 2


def test_tcav_view_scores_from_the_data(lab):
    session, _, error, _, view = lab
    view.concept.value, view.randoms.value, view.target.value = "class 1", "all", 1
    view.layer.value, view.n_inputs.value, view.runs.value = "relu3", 20, 4
    view.split.value = "test"
    view.run()
    assert error.value == "", error.value
    concept, pool, inputs, _ = tcav_sets(session.data, "test", "class 1", "all", 1, 20)
    want = tcav(session.model, "relu3", concept, pool, inputs, 1, runs=4)
    np.testing.assert_array_equal(view.result_.scores, want.scores)
    np.testing.assert_array_equal(view.result_.random_scores, want.random_scores)
    summary = view.summary.value
    assert f"p = {want.p_value:.3g}" in summary and ("significant</b>" in summary) == want.significant
    assert "random concepts" in summary and CAVEAT[:40].replace("'", "&#x27;") in summary
    assert view.plot.value.count("<circle") == 8  # 4 concept runs and 4 random concepts


def test_tcav_bad_input_is_a_clear_message(lab):
    session, _, error, _, view = lab
    view.source.value = "the data"
    for concept, said in [("", "empty set"), ("class 42", "no such class"), ("3", "at least 2")]:
        view.concept.value = concept
        view.run()
        assert said in error.value, (concept, error.value)
    view.concept.value, view.randoms.value = "0-99", "100-140"
    view.run()
    assert "each random set needs 100" in error.value
    bad = session.data.inputs("test")[:4].clone()
    bad[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="concept images.*NaN"):
        view.given(bad, session.data.inputs("test")[4:20])
    assert "NaN" in error.value and view.source.value == "the data"
    x = session.data.inputs("test")
    view.given(x[:6], [x[6:12], x[12:18]], x[20:30])  # 2 random sets: runs=4 needs 5
    view.run()
    assert "random sets for runs=4" in error.value
    view.runs.value = 1  # the slider stops at 2: the t-test's minimum
    assert view.runs.value == 2


def test_tcav_given_tensors(lab):
    session, _, error, _, view = lab
    x = session.data.inputs("test")
    concept, randoms, inputs = x[:10], x[10:60], x[(session.data.labels("test") == 2).nonzero()[:, 0]]
    view.given(concept, randoms, inputs)
    view.target.value, view.runs.value, view.layer.value = 2, 3, "relu3"
    view.run()
    assert error.value == "" and view.source.value == "tensors given in Python"
    want = tcav(session.model, "relu3", concept, randoms, inputs, 2, runs=3)
    np.testing.assert_array_equal(view.result_.scores, want.scores)
    assert "given in Python: 10 images" in view.summary.value


def test_after_a_weights_change_the_views_say_so_and_recompute_fresh():
    from explorer import Session

    session = Session.open("block-digits", epochs=0, device="cpu")
    state, error, dff, tc = views(session)
    dff.components.value, tc.runs.value, tc.n_inputs.value = 3, 3, 20
    dff.factorize()
    tc.run()
    old_maps, old_cavs = dff.result_.maps.copy(), tc.result_.cavs.copy()
    with torch.no_grad():
        session.model.conv3.weight.mul_(-1.5)  # a cell changes the weights
    session.changed()  # (after every cell in IPython)
    assert "weights before the last change" in dff.stale.value and not dff.current()
    assert "weights before the last change" in tc.stale.value and not tc.current()
    dff.factorize()
    tc.run()
    assert dff.stale.value == tc.stale.value == "" and dff.current() and tc.current() and error.value == ""
    fresh = deep_feature_factorization(session.model, session.data.inputs("test")[:4], "relu3", 3)
    np.testing.assert_allclose(dff.result_.maps, fresh.maps, atol=1e-6)
    assert not np.allclose(dff.result_.maps, old_maps)  # not the stored result of the old weights
    assert not np.allclose(tc.result_.cavs, old_cavs)


def test_the_lab_offers_both_views():
    from explorer import Session
    from explorer.panels.saliency import TABS, SaliencyPanel

    panel = SaliencyPanel(Session.open("block-digits", epochs=0, device="cpu"))
    assert [panel.tabs.get_title(i) for i in range(len(TABS))][-2:] == ["DFF concepts", "TCAV"]
    assert panel.tabs.children[4] is panel.dff and panel.tabs.children[5] is panel.tcav
    assert callable(getattr(panel.dff, panel.dff.press)) and callable(getattr(panel.tcav, panel.tcav.press))


def test_a_model_without_spatial_maps_gets_tcav_on_its_relus_and_dff_says_why_not():
    from explorer import Session

    session = Session.open("digits", "mlp", device="cpu", width=16)
    _, error, dff, tc = views(session)
    dff.factorize()
    assert "DFF needs a layer with spatial maps" in error.value
    tc.runs.value, tc.n_inputs.value = 3, 10
    tc.run()
    assert tc.layer.options == ("relu1",) and error.value == "" and tc.result_.layer == "relu1"


def test_in_a_kernel_a_result_for_weights_changed_meanwhile_is_not_drawn(kernel):
    """Jobs on the executor's thread (a kernel's loop runs): weights changed while TCAV and DFF compute; what is
    drawn is a fresh computation on the new weights."""
    import asyncio

    from explorer import Session

    from ..test_panel_common import run_loop

    session = Session.open("block-digits", epochs=0, device="cpu")

    async def use():
        _, error, dff, tc = views(session)
        dff.components.value, tc.runs.value, tc.n_inputs.value = 3, 3, 20
        dff.factorize()
        tc.run()
        with torch.no_grad():
            session.model.conv3.weight.mul_(-1.5)  # before either result reached the loop
        for _ in range(300):
            await asyncio.sleep(0.05)
            if dff.result_ is not None and tc.result_ is not None:
                break
        assert error.value == "" and dff.current() and tc.current()
        fresh = deep_feature_factorization(session.model, session.data.inputs("test")[:4], "relu3", 3)
        np.testing.assert_allclose(dff.result_.maps, fresh.maps, atol=1e-6)
        concept, pool, inputs, _ = tcav_sets(session.data, "test", "class 1", "all", 0, 20)
        np.testing.assert_array_equal(tc.result_.cavs, tcav(session.model, "relu3", concept, pool, inputs, 0,
                                                            runs=3).cavs)

    run_loop(use(), timeout=60)
