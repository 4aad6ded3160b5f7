"""The evaluation metrics take target objects (issue 24): a class's target gives the class index's numbers exactly,
a segmentation target's deletion curve is its masked sum worked out by hand, ROAD matches pytorch-grad-cam's with
the peer's segmentation targets, and the metrics without a meaning for a target refuse it by name."""
import numpy as np
import pytest
import torch
from torch import nn

import explorer.saliency as S
from explorer.saliency.evaluation import (
    data_randomization,
    deletion_insertion,
    faithfulness_correlation,
    max_sensitivity,
    model_randomization,
    random_logit,
    road,
    trust_metrics,
)
from explorer.saliency.methods.util import ClassesOnly

CLASSES = [1, 4, 2]


@pytest.fixture(scope="module")
def clf():
    """A seeded small CNN of 5 classes, three 24 x 24 images and their Grad-CAM maps."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    x = torch.randn(3, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    return net, x, S.GradCAM("3")(net, x, CLASSES)


@pytest.fixture(scope="module")
def seg():
    """A seeded two-conv segmentation net (N, 3, H, W), two 16 x 16 images, each image's class-1 mask (the pixels
    its output gives class 1) and Grad-CAM maps of those targets."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 3, 3, padding=1)).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        masks = (net(x).argmax(1) == 1).float()
    targets = [S.SemanticSegmentationTarget(1, m) for m in masks]
    return net, x, masks, targets, S.GradCAM("0")(net, x, targets)


def test_class_targets_give_the_class_index_numbers(clf, unchanged):
    """ROAD, faithfulness, max-sensitivity, sanity checks and the trust table track the class logit
    (ClassifierOutputTarget); deletion/insertion the class probability, for a class logit target (the class it
    means) as for a class probability target (ClassifierOutputSoftmaxTarget)."""
    net, x, maps = clf
    logit = [S.ClassifierOutputTarget(c) for c in CLASSES]
    cam = S.GradCAM("3")
    with unchanged(net):
        for key, v in deletion_insertion(net, x, maps, CLASSES, steps=4, batch_size=6).items():
            prob = [S.ClassifierOutputSoftmaxTarget(c) for c in CLASSES]
            assert torch.equal(v, deletion_insertion(net, x, maps, prob, steps=4, batch_size=6)[key]), key
            assert torch.equal(v, deletion_insertion(net, x, maps, logit, steps=4, batch_size=6)[key]), key
            small = deletion_insertion(net, x, maps, prob, steps=4, batch_size=2)[key]  # each step in two forwards
            assert torch.allclose(v, small, atol=1e-6), key
        assert torch.equal(road(net, x, maps, CLASSES), road(net, x, maps, logit))
        assert torch.equal(road(net, x, maps, [1, 1, 1]), road(net, x, maps, lambda out: out[:, 1]))  # a callable
        assert torch.equal(faithfulness_correlation(net, x, maps, CLASSES, runs=6, subset=40),
                           faithfulness_correlation(net, x, maps, logit, runs=6, subset=40, batch_size=7))
        assert torch.equal(max_sensitivity(net, x, cam, CLASSES, samples=2),
                           max_sensitivity(net, x, cam, logit, samples=2))
        assert model_randomization(net, x, {"g": cam}, CLASSES) == model_randomization(net, x, {"g": cam}, logit)
        rows = trust_metrics(net, x, {"g": cam}, CLASSES, runs=4, samples=2)
        got = trust_metrics(net, x, {"g": cam}, logit, runs=4, samples=2)
    assert got == [{k: v for k, v in r.items() if k != "random_logit"} for r in rows]  # no other class to draw


def test_segmentation_deletion_curve_is_the_masked_sum_by_hand(unchanged):
    """A 1 x 1 convolution scores each pixel w . x_p + b: after deleting (zeroing) the map's top k pixels, the
    target's score is the sum of that over the mask, worked out here in numpy."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        net = nn.Conv2d(3, 2, 1).eval()
    g = np.random.default_rng(4)
    x = torch.from_numpy(g.normal(size=(2, 3, 4, 4)).astype(np.float32))
    maps = torch.from_numpy(g.permutation(32).reshape(2, 4, 4).astype(np.float32))  # no ties
    mask = torch.from_numpy((g.random((4, 4)) < 0.5).astype(np.float32))
    with unchanged(net):
        got = deletion_insertion(net, x, maps, S.SemanticSegmentationTarget(1, mask), steps=4, baseline=0)
    w, b = net.weight[1, :, 0, 0].detach().double().numpy(), float(net.bias[1])
    xs, m = x.double().numpy(), mask.numpy().astype(bool)
    for i in range(2):
        order = np.argsort(-maps[i].numpy().ravel(), kind="stable")
        for s, k in enumerate((0, 4, 8, 12, 16)):
            img = xs[i].reshape(3, -1).copy()
            img[:, order[:k]] = 0
            want = ((w @ img + b).reshape(4, 4) * m).sum()
            assert abs(got["deletion"][i, s].item() - want) < 1e-5, (i, k)
    assert abs(got["insertion"][0, -1].item() - got["deletion"][0, 0].item()) < 1e-5  # all inserted: the image


def test_road_with_segmentation_targets_matches_the_peer(seg, unchanged):
    """pytorch-grad-cam's ROAD scores each image's output with its target; ours the batch's with the same."""
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    net, x, masks, targets, maps = seg
    with unchanged(net):
        got = road(net, x, maps, targets, variant="pytorch-grad-cam", removed=(80, 50, 20), seed=5)
    torch.manual_seed(5)  # the peer's imputation noise comes from the global generator
    try:
        want = ROADCombined(percentiles=[20, 50, 80])(x, maps.numpy(), [SemanticSegmentationTarget(
            1, m.numpy()) for m in masks], net)
    finally:
        torch.seed()
    assert got.shape == (2,) and (got - torch.from_numpy(np.asarray(want))).abs().max() < 1e-4, (got, want)
    assert torch.equal(road(net, x, maps, lambda out: targets[0](out), removed=(50,), order="most"),
                       road(net, x, maps, [targets[0]] * 2, removed=(50,), order="most"))  # one for all, or each


def test_metrics_without_a_meaning_for_a_target_refuse_it(clf, seg, digits):
    from explorer import Session
    from explorer.data import from_arrays
    from explorer.saliency.evaluation import rank_methods
    from explorer.saliency.lab import diff_roar_job

    net, x, maps = clf
    with pytest.raises(ClassesOnly, match="random-logit compares the maps of two classes"):
        random_logit(net, x, S.GradCAM("3"), S.ClassifierOutputTarget(1))
    with pytest.raises(ClassesOnly, match="data randomisation retrains a classifier"):
        data_randomization(net, digits, x, {"g": S.GradCAM("3")}, S.ClassifierOutputTarget(1))
    seg_net, _, _, targets, _ = seg
    pics = np.random.default_rng(0).integers(0, 256, (6, 3, 16, 16), dtype=np.uint8)
    session = Session(seg_net, from_arrays(pics[:4], [0, 1] * 2, pics[4:], [0, 1]), target=targets[0])
    with pytest.raises(ValueError, match="DiffROAR retrains the architecture as a classifier"):
        diff_roar_job(session, "Grad-CAM", "0")
    with pytest.raises(ClassesOnly, match="none of Score-CAM can explain a target object"):
        rank_methods(session, ["Score-CAM"], n=2, layers="0", steps=2)


def test_ranking_for_the_predicted_classes_as_targets_is_the_class_ranking(unchanged):
    """Class logit targets of the predicted classes rank as the predicted class indices do (class sensitivity
    kept: they are a classifier's classes); another callable leaves class sensitivity out."""
    from explorer import Session
    from explorer.saliency.evaluation import rank_methods

    session = Session.open("block-digits", epochs=0, device="cpu")
    _, _, idx = session.data.sample("test", 4, 0)
    pred = session.evaluate("test").predictions[idx].tolist()
    with unchanged(session.model):
        want = rank_methods(session, ["Grad-CAM", "Input gradient"], n=4, steps=3)
        got = rank_methods(session, ["Grad-CAM", "Input gradient"], n=4, steps=3,
                           targets=[S.ClassifierOutputTarget(c) for c in pred])
        other = rank_methods(session, ["Input gradient"], n=4, steps=3, targets=lambda out: out[:, 0] - out[:, 1])
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in got] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in want] and "sensitivity" in got[0]
    assert "sensitivity" not in other[0] and set(other[0]) >= {"deletion_auc", "insertion_auc", "rank"}
