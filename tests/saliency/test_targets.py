"""Targets beyond one class logit (issue 24) against pytorch-grad-cam 1.5.7 within 1e-4: a segmentation mask on
torchvision's LR-ASPP, similarity to a concept on resnet18 features, a binary classifier's single logit, softmax
probabilities, Faster R-CNN box scores; Seg-Eigen-CAM; the class-index path as before."""
import copy

import numpy as np
import pytest
import torch

import explorer.saliency as S

pgc = pytest.importorskip("pytorch_grad_cam")
tv = pytest.importorskip("torchvision")
from pytorch_grad_cam.utils import model_targets as PT  # noqa: E402

ATOL = 1e-4


class PeerSimilarity:
    """pytorch-grad-cam's SimilarityToConceptTarget: defined in its tutorial "Pixel Attribution for embeddings",
    not shipped in the 1.5.7 package."""

    def __init__(self, features):
        self.features = features

    def __call__(self, model_output):
        return torch.nn.CosineSimilarity(dim=0)(model_output, self.features)


class Out(torch.nn.Module):
    """The wrapper pytorch-grad-cam needs for a torchvision segmentation model: the dict's 'out' tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def peer(cls, model, layer, x, targets, **kw):
    """pytorch-grad-cam's maps (N, H, W) at one named layer, one target per image."""
    with cls(model=model, target_layers=[dict(model.named_modules())[layer]], **kw) as cam:
        return torch.from_numpy(cam(input_tensor=x, targets=targets))


def close(ours, theirs, what):
    err = (ours - theirs).abs().max().item()
    assert err < ATOL, f"{what}: max diff {err:.2e}"


@pytest.fixture(scope="module")
def lraspp(calibrated):
    return calibrated("segmentation.lraspp_mobilenet_v3_large", size=96, weights_backbone=None)


@pytest.fixture(scope="module")
def seg_case(lraspp):
    """Two 96 px images and a segmentation target: image 0's most-scored class over the pixels it wins."""
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = lraspp(x)["out"]
    c = int(out[0].mean((1, 2)).argmax())
    mask = (out[0].argmax(0) == c).float().numpy()
    assert 0 < mask.sum() < mask.size  # a real region, not the whole image
    return x, c, mask


@pytest.fixture(scope="module")
def resnet18(calibrated):
    return calibrated("resnet18", size=112)


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("ours,theirs", [(S.GradCAM, pgc.GradCAM), (S.HiResCAM, pgc.HiResCAM),
                                         (S.SegEigenCAM, pgc.SegEigenCAM)])
def test_segmentation_target_lraspp(lraspp, seg_case, unchanged, ours, theirs):
    x, c, mask = seg_case
    wrapped = Out(lraspp)
    for layer in ("backbone.16", "backbone.12"):  # the backbone's last block and one deeper in
        with unchanged(lraspp):
            got = ours(layer)(lraspp, x, S.SemanticSegmentationTarget(c, mask))
        want = peer(theirs, wrapped, "model." + layer, x, [PT.SemanticSegmentationTarget(c, mask)] * 2)
        close(got, want, f"{ours.name} at {layer}")


def test_segeigencam_default_layer(lraspp, seg_case):
    x, c, mask = seg_case
    layer = S.default_cam_layer(lraspp, x)  # a dict output: the layer probe reads every output tensor
    assert layer == "classifier.cbr"  # the head's features, not its class-score convs
    got = S.SegEigenCAM()(lraspp, x, S.SemanticSegmentationTarget(c, mask))
    want = peer(pgc.SegEigenCAM, Out(lraspp), "model." + layer, x, [PT.SemanticSegmentationTarget(c, mask)] * 2)
    close(got, want, f"Seg-Eigen-CAM at the default layer {layer}")
    assert S.EigenCAM("backbone.16")(lraspp, x).shape == (2, 96, 96)  # no gradient: no target to name


def test_similarity_to_concept_resnet18(resnet18, images, unchanged):
    body = copy.deepcopy(resnet18)
    body.fc = torch.nn.Identity()  # embeddings (N, 512)
    with torch.no_grad():
        concept = body(images[1:])[0]  # image 1's embedding: image 0 explained by its likeness to image 1
    for layer in ("layer4", "layer3"):
        with unchanged(body):
            got = S.GradCAM(layer)(body, images, S.SimilarityToConceptTarget(concept))
        want = peer(pgc.GradCAM, body, layer, images, [PeerSimilarity(concept)] * 2)
        close(got, want, f"similarity at {layer}")


def test_binary_and_softmax_targets(resnet18, images, unchanged):
    binary = copy.deepcopy(resnet18)
    binary.fc = torch.nn.Linear(512, 1)
    torch.nn.init.normal_(binary.fc.weight, generator=torch.Generator().manual_seed(3))
    for category in (0, 1):  # class 0: the logit's sign flipped
        got = S.GradCAM("layer4")(binary, images, S.BinaryClassifierOutputTarget(category))
        want = peer(pgc.GradCAM, binary, "layer4", images, [PT.BinaryClassifierOutputTarget(category)] * 2)
        close(got, want, f"binary target, category {category}")
    t = [int(v) for v in resnet18(images).argmax(1)]
    for ours, theirs in ((S.GradCAM, pgc.GradCAM), (S.GradCAMpp, pgc.GradCAMPlusPlus)):
        with unchanged(resnet18):
            got = ours("layer4")(resnet18, images, [S.ClassifierOutputSoftmaxTarget(k) for k in t])
        want = peer(theirs, resnet18, "layer4", images, [PT.ClassifierOutputSoftmaxTarget(k) for k in t])
        close(got, want, f"{ours.name}, softmax target")


def test_class_index_path_unchanged(resnet18, images):
    # a class index and ClassifierOutputTarget are one score: bit-identical maps; both as the peer's
    t = resnet18(images).argmax(1)
    for cls in (S.GradCAM, S.LayerCAM, S.InputGradient):
        by_index = cls("layer4" if cls.needs_layer else None)(resnet18, images, t)
        by_target = cls("layer4" if cls.needs_layer else None)(resnet18, images,
                                                               [S.ClassifierOutputTarget(int(k)) for k in t])
        assert torch.equal(by_index, by_target), cls.name
    want = peer(pgc.GradCAM, resnet18, "layer4", images, [PT.ClassifierOutputTarget(int(k)) for k in t])
    close(S.GradCAM("layer4")(resnet18, images, t), want, "class index")


def test_input_gradient_of_a_mask_score(lraspp, seg_case):
    # known answer: the input gradient of the masked class score, by plain autograd
    x, c, mask = seg_case
    xg = x[:1].clone().requires_grad_(True)
    (lraspp(xg)["out"][:, c] * torch.as_tensor(mask)).sum().backward()
    want = xg.grad.abs().amax(1)
    got = S.InputGradient()(lraspp, x[:1], S.SemanticSegmentationTarget(c, mask), raw=True)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_faster_rcnn_box_score(unchanged):
    torch.manual_seed(0)
    net = tv.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(  # random weights: keep every box
        weights=None, weights_backbone=None, box_score_thresh=0.0).eval()
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        det = net(x)[0]
    assert len(det["boxes"]) >= 3
    boxes, labels = det["boxes"][:3].numpy(), det["labels"][:3].tolist()
    with unchanged(net):
        got = S.GradCAM("backbone.body.16")(net, x, S.FasterRCNNBoxScoreTarget(labels, boxes))
    want = peer(pgc.GradCAM, net, "backbone.body.16", x, [PT.FasterRCNNBoxScoreTarget(labels, boxes)])
    assert got.std() > 0.01  # a map, not a blank
    close(got, want, "Faster R-CNN box score")


def test_clear_errors(lraspp, seg_case, resnet18, images):
    x, c, mask = seg_case
    with pytest.raises(ValueError, match="not logits .*SemanticSegmentationTarget"):
        S.GradCAM("backbone.16")(lraspp, x)  # a dict output and a class index: say what a target is
    with pytest.raises(ValueError, match="class indices only"):
        S.ScoreCAM("backbone.16")(lraspp, x, S.SemanticSegmentationTarget(c, mask))  # its own scores: refused
    with pytest.raises(ValueError, match="one target per image: 2 images but 1"):
        S.GradCAM("layer4")(resnet18, images, [S.ClassifierOutputTarget(1)])  # never explains image 0 only
    with pytest.raises(ValueError, match="matching its mask"):
        S.GradCAM("backbone.16")(lraspp, x, S.SemanticSegmentationTarget(c, np.ones((5, 5))))
    with pytest.raises(ValueError, match="features but the concept"):
        S.GradCAM("layer4")(resnet18, images, S.SimilarityToConceptTarget(torch.ones(3)))
    with pytest.raises(ValueError, match=r"one score per image \(2,\) from the batch"):
        S.GradCAM("layer4")(resnet18, images, PT.BinaryClassifierOutputTarget(1))  # a per-image callable


def test_any_callable_is_a_target(resnet18, images):
    by_index = S.GradCAM("layer4")(resnet18, images, 3)
    assert torch.equal(S.GradCAM("layer4")(resnet18, images, lambda out: out[:, 3]), by_index)
