"""A model that is not a classifier in the Session and the saliency lab (issue 24): a target says what to explain;
without one, a clear error."""
import numpy as np
import pytest
import torch

import explorer.saliency as S

tv = pytest.importorskip("torchvision")
pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def lraspp(calibrated):
    return calibrated("segmentation.lraspp_mobilenet_v3_large", size=96, weights_backbone=None)


@pytest.fixture(scope="module")
def photos():
    from explorer.data import from_arrays

    g = np.random.default_rng(0)
    x = g.integers(0, 256, (12, 3, 96, 96), dtype=np.uint8)
    return from_arrays(x[:8], [0, 1] * 4, x[8:], [0, 1] * 2, classes=["a", "b"], name="photos")


def test_session_needs_a_target_for_a_dict_output(lraspp, photos):
    from explorer import Session

    with pytest.raises(ValueError, match="needs target="):
        Session(lraspp, photos).check()
    Session(lraspp, photos, target="segmentation").check()  # no error
    body = tv.models.resnet18(weights=None, num_classes=7).eval()
    with pytest.raises(ValueError, match=r"one score per image \(2,\)"):
        Session(body, photos, target=lambda out: out.sum()).check()  # a target that gives one number


def test_saliency_panel_on_a_segmentation_model(lraspp, photos, unchanged):
    from explorer import Session
    from explorer.panels.saliency import SaliencyPanel

    session = Session(lraspp, photos, target="segmentation")
    with unchanged(lraspp):
        panel = SaliencyPanel(session)
        panel.compare.compare_methods.value = ()
        assert panel.error.value == "", panel.error.value
        assert tuple(panel.maps.target.options) == ("segmentation",) and not panel.maps.klass.disabled
        x = session.data.inputs("test")[:1]
        with torch.no_grad():
            c = int(lraspp(x)["out"][0].argmax(0).flatten().mode().values)  # the class most pixels get
        panel.maps.layer.value = "backbone.16"
        panel.maps.klass.value = c
        assert panel.error.value == "", panel.error.value
        assert "segmentation" in panel.maps.caption.value and panel.strip.cells[0].children[1].description == "image 0"
    # the map drawn is Grad-CAM of class c over the pixels the model gives class c
    mask = (lraspp(x)["out"][0].argmax(0) == c).float()
    want = S.GradCAM("backbone.16")(lraspp, x, S.SemanticSegmentationTarget(c, mask))[0].numpy()
    # float32 maps in [0, 1]; the panel's batch runs on the executor's thread (its own torch threads): ~10 ulp
    np.testing.assert_allclose(panel.maps.cam_, want, atol=1e-5)


def test_lab_with_the_sessions_own_target(lraspp, photos):
    from explorer import Session
    from explorer.saliency.kinds import session_kinds
    from explorer.saliency.lab import Explainers

    x = photos.inputs("test")[1:2]
    mask = torch.zeros(96, 96)
    mask[20:60, 30:70] = 1
    target = S.SemanticSegmentationTarget(3, mask)
    session = Session(lraspp, photos, target=target)
    session.check()
    assert session_kinds(session) == ("given",)
    got = Explainers(session).cam("Seg-Eigen-CAM", "backbone.12", {}, "test", 1, ("given", 0))
    np.testing.assert_allclose(got, S.SegEigenCAM("backbone.12")(lraspp, x, target)[0].numpy(), atol=1e-6)


def test_evaluation_views_on_a_segmentation_model(lraspp, photos, unchanged):
    """The ranking and the trust metrics score the segmentation target the map view names (class c over the pixels
    each image gives class c); what has no meaning for it is left out or refused with a message in the panel."""
    from explorer import Session
    from explorer.panels.saliency import SaliencyPanel
    from explorer.saliency.evaluation import deletion_insertion
    from explorer.saliency.kinds import batch_targets

    session = Session(lraspp, photos, target="segmentation")
    x = photos.inputs("test")
    with torch.no_grad():
        c = int(lraspp(x[:1])["out"][0].argmax(0).flatten().mode().values)
    with unchanged(lraspp):
        panel = SaliencyPanel(session)
        panel.maps.klass.value = c
        assert panel.roar.roar_button.disabled and "not a classifier" in panel.roar.roar.value  # DiffROAR refused
        panel.compare.compare_methods.value = ("Grad-CAM", "Score-CAM")
        panel.ranking.eval_n.value = 4
        panel.ranking.evaluate()
        assert panel.error.value == "", panel.error.value
        table = panel.ranking.table.value
        assert "segmentation target's score" in table and "not ranked (they explain class indices only): Score-CAM" \
            in table and "<th>sensitivity</th>" not in table
        [row] = panel.state.rows
        panel.trust.trust_n.value = 2
        panel.trust.sanity()  # Score-CAM cannot explain the target: refused by name
        assert "explains class indices only" in panel.error.value
        panel.compare.compare_methods.value = ("Grad-CAM",)
        panel.trust.sanity()
        assert panel.error.value == "" and panel.trust.sanity_["layers"][0] == "original"
        panel.trust.metrics()
        assert panel.error.value == "" and "faithfulness" in panel.trust.trust_table.value
        assert "random_logit needs a classifier's other classes" in panel.trust.trust_table.value
        assert "random_logit" not in panel.trust.trust_rows_[0]
    # the ranking's deletion AUC is Grad-CAM's curve for each image's own class-c mask
    layer = panel.state.layers()
    sample = photos.sample("test", 4, 0)[0]
    targets = batch_targets(lraspp, "segmentation", c, sample)
    maps = S.GradCAM(layer)(lraspp, sample, targets)
    want = deletion_insertion(lraspp, sample, maps, targets, steps=10)["deletion_auc"].mean()
    assert row["method"] == "Grad-CAM" and abs(row["deletion_auc"] - float(want)) < 1e-4 * max(1, abs(float(want)))
