"""The saliency panel headless: redraws without the model, recomputes once, shows errors and stays alive."""
import numpy as np
import pytest

pytest.importorskip("ipywidgets")


@pytest.fixture
def panel_and_calls():
    from explorer import Session
    from explorer.panels.saliency import SaliencyPanel

    session = Session.open("block-digits", epochs=0, device="cpu")
    calls = []
    handle = session.model.register_forward_hook(lambda *a: calls.append(1))
    panel = SaliencyPanel(session)
    yield panel, calls
    handle.remove()


def test_alpha_and_colormap_redraw_without_model(panel_and_calls):
    panel, calls = panel_and_calls
    assert panel.error.value == "", panel.error.value
    first, n, computes = bytes(panel.maps.image.value), len(calls), panel.maps.computes
    assert first.startswith(b"\x89PNG") and panel.compare.png().startswith(b"\x89PNG")
    image_widget = panel.maps.image
    panel.maps.alpha.value = 0.9
    assert bytes(panel.maps.image.value) != first and panel.maps.image is image_widget
    panel.maps.cmap.value = "viridis"
    assert len(calls) == n and panel.maps.computes == computes
    assert panel.error.value == ""


def test_method_and_layer_change_recompute_once(panel_and_calls):
    panel, calls = panel_and_calls
    panel.compare.compare_methods.value = ()  # only the main view
    computes, n = panel.maps.computes, len(calls)
    panel.maps.layer.value = "conv2"
    assert (panel.maps.computes, len(calls)) == (computes + 1, n + 1)  # one compute, one forward
    panel.maps.method.value = "NormGrad"  # (not among the compared methods, whose maps the init computed)
    assert (panel.maps.computes, len(calls)) == (computes + 2, n + 1)  # same layer and image: the kept forward serves
    panel.maps.layer.value = panel.maps.layer.options[-1]  # the first view's layer: its forward is still kept
    assert (panel.maps.computes, len(calls)) == (computes + 3, n + 1)
    panel.maps.method.value = "Grad-CAM"  # a configuration seen before: from the memo, no model call
    assert (panel.maps.computes, len(calls)) == (computes + 3, n + 1)
    panel.maps.index.value = 5  # a new image: one forward, then a method switch needs none
    assert (panel.maps.computes, len(calls)) == (computes + 4, n + 2)
    panel.maps.method.value = "Eigen-CAM"
    assert (panel.maps.computes, len(calls)) == (computes + 5, n + 2)
    panel.maps.method.value = "SmoothGrad"
    assert panel.maps.layer.disabled and "samples" in panel.maps.knobs.widgets
    assert panel.error.value == ""


def test_class_switch_needs_no_forward(panel_and_calls):
    panel, calls = panel_and_calls
    panel.compare.compare_methods.value = ()
    panel.maps.target.value = "class"
    n = len(calls)
    before = panel.maps.image.value
    for k in (3, 5, 7):
        panel.maps.klass.value = k
    assert len(calls) == n, "a class switch ran the model"
    assert panel.maps.image.value != before


def test_bad_class_shows_error_and_panel_lives(panel_and_calls, unchanged):
    panel, _ = panel_and_calls
    with unchanged(panel.session.model):
        panel.maps.target.value = "class"
        panel.maps.klass.value = 42
        assert "out of range" in panel.error.value
        panel.maps.klass.value = 2
        assert panel.error.value == ""
        panel.maps.method.value = "Eigen-CAM"  # still alive and drawing
        assert bytes(panel.maps.image.value).startswith(b"\x89PNG")


def test_gallery_click_and_ranking(panel_and_calls):
    panel, _ = panel_and_calls
    panel.strip.cells[3].children[1].click()
    assert panel.maps.index.value == 3
    panel.compare.compare_methods.value = ("Grad-CAM", "Input gradient")
    panel.ranking.eval_n.value = 8
    panel.ranking.evaluate()
    assert "<table" in panel.ranking.table.value and "Grad-CAM" in panel.ranking.table.value and panel.error.value == ""
    assert panel.ranking.progress.bar.value == panel.ranking.progress.bar.max == 2  # one step per ranked method


def test_export_writes_what_is_shown(panel_and_calls, tmp_path):
    import csv

    panel, _ = panel_and_calls
    panel.export.folder.value = str(tmp_path / "out")
    first = panel.export.save()
    assert [p.name.split("-")[-1] for p in first] == ["image0.png", "compare.png"]  # nothing ranked yet
    assert first[0].read_bytes() == panel.maps.image.value and first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panel.compare.compare_methods.value = ("Grad-CAM",)
    panel.ranking.eval_n.value = 4
    panel.ranking.evaluate()
    paths = panel.export.save()
    rows = list(csv.DictReader(paths[-1].open()))
    assert paths[-1].name.endswith("ranking.csv") and rows[0]["method"] == "Grad-CAM"
    assert float(rows[0]["deletion_auc"]) == panel.ranking.rows_[0]["deletion_auc"]  # full precision
    assert "saved 3 file(s)" in panel.export.status.value
    (tmp_path / "file").write_text("")
    panel.export.folder.value = str(tmp_path / "file" / "sub")  # a folder that cannot be made: a clear error
    assert panel.export.save() is None and panel.export.error.value != ""


def test_knob_form_follows_method(panel_and_calls):
    panel, _ = panel_and_calls
    panel.maps.method.value = "NormGrad"
    form = panel.maps.knobs.widgets["form"]  # read from NormGrad's own declaration
    assert form.options == ("identity", "conv", "selective")
    before, computes = bytes(panel.maps.image.value), panel.maps.computes
    form.value = "selective"
    assert panel.maps.computes == computes + 1 and bytes(panel.maps.image.value) != before
    panel.maps.method.value = "Grad-CAM"
    assert "form" not in panel.maps.knobs.widgets and panel.error.value == ""


def test_compare_strip_and_its_errors(panel_and_calls):
    panel, _ = panel_and_calls
    panel.compare.compare_methods.value = ("Grad-CAM",)
    one = panel.compare.png()
    panel.compare.compare_methods.value = ("Grad-CAM", "Eigen-CAM", "NormGrad")
    three = panel.compare.png()
    from io import BytesIO

    from PIL import Image
    w1, w3 = Image.open(BytesIO(one)).width, Image.open(BytesIO(three)).width
    assert w3 > 2.5 * w1  # three tiles side by side
    h3 = Image.open(BytesIO(three)).height
    panel.compare.compare_rows.value = 1  # one image: a third of the height
    assert Image.open(BytesIO(panel.compare.png())).height < h3 / 2.5
    assert "3 methods; images 0 top to bottom" in panel.compare.compare_caption.value
    # on screen: one named tile per method, in order, each the height of one image now
    tiles = panel.compare.grid.children
    assert [t.children[0].value.split("title='")[1].split("'")[0] for t in tiles] == ["Grad-CAM", "Eigen-CAM",
                                                                                      "NormGrad"]
    assert all(n in t.children[0].value for t, n in zip(tiles, ["Grad-CAM", "Eigen-CAM", "NormGrad"]))
    panel.compare.compare_rows.value = 2  # the second row is the next image with its own class, from the same maps
    panel.maps.target.value = "true"
    grid = np.asarray(Image.open(BytesIO(panel.compare.png())).convert("RGB"))
    from explorer.panels._common import display_scale, png
    from explorer.saliency import overlay
    i = panel.maps.index.value + 1
    cam = panel.maps.explainers.stored(panel.state.request("Grad-CAM", i))
    tile = overlay(panel.maps.images[i], cam, panel.maps.alpha.value, panel.maps.cmap.value)
    want = np.asarray(Image.open(BytesIO(png(tile, display_scale(tile.shape[0], 128)))).convert("RGB"))
    top = grid.shape[0] - want.shape[0]  # the last row, first column
    np.testing.assert_array_equal(grid[top:, :want.shape[1]], want)
    panel.maps.target.value = "class"
    panel.maps.klass.value = -1  # the error shows and stays shown (not cleared by the nested redraw)
    assert "out of range" in panel.error.value
    panel.maps.alpha.value = 0.2
    assert "out of range" in panel.error.value


def test_layer_menu_lists_block_outputs_and_defaults_to_the_last_map(panel_and_calls):
    panel, _ = panel_and_calls
    assert "relu3" in panel.maps.layer.options and "pool" in panel.maps.layer.options  # not only the convolutions
    assert panel.maps.layer.value == "relu3"  # the last spatial map on the path to the logits, after the activation


def test_mlp_offers_input_methods_only():
    from explorer import Session
    from explorer.panels.saliency import SaliencyPanel
    from explorer.saliency import METHODS

    panel = SaliencyPanel(Session.open("digits", "mlp", device="cpu"))
    assert panel.error.value == "" and bytes(panel.maps.image.value).startswith(b"\x89PNG")
    assert panel.maps.method.options and all(not METHODS[n].needs_layer for n in panel.method_names)
    panel.maps.method.value = "Integrated gradients"
    assert panel.error.value == ""


def test_diff_roar_button_with_progress_and_memo(panel_and_calls, monkeypatch):
    from explorer.saliency.evaluation import roar as mod

    panel, _ = panel_and_calls
    seen = []
    real = mod.diff_roar

    def spy(model, data, method, **kw):
        seen.append((method.name, kw["k"], kw["epochs"]))
        return real(model, data, method, **kw)
    monkeypatch.setattr(mod, "diff_roar", spy)
    panel.roar.roar_k.value, panel.roar.roar_epochs.value = 0.5, 1
    panel.roar.diff_roar()
    r = panel.roar.roar_result_
    assert panel.error.value == "" and seen == [("Grad-CAM", 0.5, 1)]
    assert r["diff_roar"] == r["top_accuracy"] - r["bottom_accuracy"] and "DiffROAR" in panel.roar.roar.value
    assert panel.roar.roar_progress.bar.value == panel.roar.roar_progress.bar.max > 0  # both trainings reported
    panel.roar.diff_roar()
    assert len(seen) == 1  # memoised


def test_combined_layers_are_the_multi_layer_method(panel_and_calls):
    from explorer.saliency import explain

    panel, _ = panel_and_calls
    panel.compare.compare_methods.value = ()
    panel.maps.index.value = 3
    panel.maps.layer.value = "conv3"
    single = panel.maps.cam_.copy()
    panel.maps.combine.value = ("conv1", "conv3")  # conv3 is the layer already: conv1 joins it
    assert panel.state.layers() == ("conv1", "conv3") and panel.error.value == ""
    x = panel.session.data.inputs("test")[3:4]
    want = explain(panel.session.model, x, "Grad-CAM", ["conv1", "conv3"], targets=[panel.state.target_class()])[0]
    np.testing.assert_allclose(panel.maps.cam_, want.numpy(), atol=1e-6)
    assert not np.allclose(panel.maps.cam_, single)
    panel.maps.method.value = "NormGrad"  # the product of the layers' maps
    want = explain(panel.session.model, x, "NormGrad", ["conv1", "conv3"], targets=[panel.state.target_class()])[0]
    np.testing.assert_allclose(panel.maps.cam_, want.numpy(), atol=1e-6)
    panel.maps.method.value = "Input gradient"
    assert panel.maps.combine.disabled and panel.error.value == ""


def test_trust_view_sanity_curves_and_metric_agreement(panel_and_calls, unchanged):
    panel, _ = panel_and_calls
    panel.compare.compare_methods.value = ("Grad-CAM", "Input gradient")
    panel.trust.trust_n.value = 2
    with unchanged(panel.session.model):
        panel.trust.sanity()
        assert panel.error.value == "", panel.error.value
        r = panel.trust.sanity_
        assert r["layers"][0] == "original" and set(r["methods"]) == {"Grad-CAM", "Input gradient"}
        first = panel.trust.sources[0].data
        assert first["y"][0] == 1.0 and len(first["x"]) == len(r["layers"])  # the curve as drawn
        panel.ranking.eval_n.value = 4
        panel.ranking.evaluate()
        panel.trust.metrics()
    assert panel.error.value == "" and "faithfulness" in panel.trust.trust_table.value
    assert "Do the metrics agree" in panel.trust.trust_table.value  # with the ranking's metrics joined in


def test_method_menu_grouped_by_the_classes_family(panel_and_calls):
    from explorer.saliency import METHODS

    panel, _ = panel_and_calls
    labels, names = zip(*panel.maps.method.options)
    assert set(names) == set(METHODS) and list(names) == panel.method_names
    assert all(lab == f"{METHODS[n].family} · {n}" for lab, n in zip(labels, names))
    families = [METHODS[n].family for n in names]
    runs = [f for i, f in enumerate(families) if i == 0 or f != families[i - 1]]
    assert runs == list(dict.fromkeys(families)) and runs[:2] == ["CAM", "Gradient"]  # each family in one block
    assert {"Backprop", "Perturbation", "Relevance"} <= set(runs)
    assert panel.maps.method.label == "CAM · Grad-CAM" and panel.maps.method.value == "Grad-CAM"
    assert [n for _, n in panel.compare.compare_methods.options] == list(names)  # the compare list groups the same way


def test_every_method_is_a_named_tile_that_wraps(panel_and_calls):
    """'every method': one tile per method, each named and at most 96 pixels wide in a wrapping row (25 columns of
    one picture ran off the panel), and the tiles of a smaller comparison closed, not left in the kernel."""
    import html

    from explorer.panels._common import live_widgets

    panel, _ = panel_and_calls
    panel.compare.compare_rows.value = 1
    panel.compare.compare_methods.value = ("Grad-CAM", "Eigen-CAM")
    before = live_widgets()
    panel.compare.every.click()
    assert panel.error.value == "", panel.error.value  # every method runs on this model, the superpixel ones too
    tiles = panel.compare.grid.children
    names = panel.compare.names
    tips = [html.unescape(t.children[0].value.split("title='")[1].split("'")[0]) for t in tiles]
    assert len(names) > 6 and [tip.split(":")[0] for tip in tips] == names
    deeplift = tiles[names.index("DeepLIFT")].children[0].value  # its completeness gap: marked, said in the title
    assert "&#9888;" in deeplift and "summation to delta" in tips[names.index("DeepLIFT")]
    assert all(n.replace("&", "&amp;") in t.children[0].value for t, n in zip(tiles, names))
    assert all(int(t.children[1].width) <= 96 for t in tiles)
    assert all(t.children[1].tooltip is None for t in tiles)  # an Image with a tooltip gets no view in JupyterLab
    assert panel.compare.grid.layout.flex_flow == "row wrap"
    assert all(t.layout.flex == "0 0 auto" for t in tiles)  # tiles keep their size: the lines wrap
    import ipywidgets as W

    controls, right = next(w for w in panel.compare.children if isinstance(w, W.HBox)).children
    assert controls.layout.flex == "0 0 auto" and panel.compare.every.layout.min_width == "max-content"
    assert right.layout.min_width == "0" and right.layout.flex.startswith("1 1")  # the width left, no more
    panel.compare.compare_methods.value = ("Grad-CAM",)
    assert len(panel.compare.grid.children) == 1
    assert live_widgets() <= before + 3 * 1  # the other tiles closed (one tile: a box, a name, a picture)
    panel.compare.compare_methods.value = ()  # none compared: no tile, and a redraw (alpha) is no error
    panel.maps.alpha.value = 0.3
    assert panel.compare.grid.children == () and panel.error.value == "", panel.error.value


def test_a_results_notes_show_beside_its_map(panel_and_calls):
    """DeepLIFT's summation-to-delta gap is shown under the map (kept with the map in the memo, so a map from the
    memo shows it too); a method with nothing to say shows nothing; nothing is printed from the job."""
    import warnings

    panel, _ = panel_and_calls
    assert panel.maps.notes.value == ""  # Grad-CAM on a CNN
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        panel.maps.method.value = "DeepLIFT"
    note = panel.maps.notes.value
    assert "summation to delta" in note and "(complete)" in note and panel.error.value == ""
    panel.maps.method.value = "HiResCAM"
    assert panel.maps.notes.value == ""
    computes = panel.maps.computes
    panel.maps.method.value = "DeepLIFT"  # from the memo
    assert panel.maps.computes == computes and panel.maps.notes.value == note
