"""The CAMs of pytorch-grad-cam 1.5.7 added for issue 24 (Random-CAM, KPCA-CAM, FEM, ShapleyCAM, Finer-CAM) against
the peer within 1e-4, unscaled logits, explicit targets, at the default layer and one other on resnet18, vgg11_bn,
mobilenet_v3_small (the zoo's seeded, calibrated nets, at 96 px to keep the tests quick) and a small ViT."""
import copy

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

import explorer.saliency as S

from .conftest import smooth_images

pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget, FinerWeightedTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_kernel  # noqa: E402

ATOL = 1e-4
TARGETS = [3, 7]
SIZE = 96  # resnet18's layer4 is 3 x 3 here: FEM's 2-sigma rule can fire (on 2 x 2 no value exceeds it)
# model -> (default layer, another user-pickable layer); the peer takes the module that outputs the same tensor
CASES = {"resnet18": (("layer4", "layer4"), ("layer3.1.conv2", "layer3.1.conv2")),
         "vgg11_bn": (("features", "features.28"), ("features.25", "features.25")),
         "mobilenet_v3_small": (("features", "features.12"), ("features.9", "features.9")),
         "vit": (("encoder.layers.encoder_layer_1.ln_1",) * 2, ("encoder.layers.encoder_layer_0",) * 2)}


# vgg11_bn's 100M-weight classifier makes every `unchanged` fingerprint and forward slow on the CPU: marked slow
@pytest.fixture(scope="module", params=[pytest.param(n, marks=pytest.mark.slow) if n == "vgg11_bn" else n
                                        for n in CASES])
def case(request, zoo, tiny_vit, vit_tokens):
    name = request.param
    if name == "vit":  # tests/conftest.py's: 32 px, an 8 x 8 token grid
        return tiny_vit, smooth_images(2, seed=1, size=32), vit_tokens, CASES[name]
    return zoo(name), smooth_images(2, seed=1, size=SIZE), None, CASES[name]


def peer(cls, model, layer, x, targets, reshape, **kw):
    """The peer's map at one layer for explicit targets (class indices or its target objects); .grad cleared."""
    targets = [ClassifierOutputTarget(int(t)) if isinstance(t, int) else t for t in targets]
    try:
        with cls(model=model, target_layers=[model.get_submodule(layer)], reshape_transform=reshape, **kw) as cam:
            return torch.from_numpy(cam(input_tensor=x, targets=targets))
    finally:
        model.zero_grad(set_to_none=True)


def ours(cls, model, layer, x, unchanged, **kw):
    with unchanged(model):
        method = cls(None if layer == "default" else layer, **kw)
        return method(model, x, TARGETS)


def layers(case):
    """(our layer name or 'default', the peer's layer) pairs, the default checked to be what we pick."""
    model, x, _, ((default, peer_default), (other, peer_other)) = case
    assert S.GradCAM().layer_names(model, x) == [default]
    return [("default", peer_default), (other, peer_other)]


def check(cls, case, unchanged, peer_cls, peer_kw=None, **kw):
    model, x, reshape, _ = case
    for layer, pl in layers(case):
        got = ours(cls, model, layer, x, unchanged, **kw)
        want = peer(peer_cls, model, pl, x, TARGETS, reshape, **(peer_kw or {}))
        assert want.amax() > 0, f"{cls.name} at {layer}: the peer's map is blank, no test"
        err = (got - want).abs().max().item()
        assert err < ATOL, f"{cls.name} at {layer}: max diff {err:.2e}"


def test_fem(case, unchanged):
    check(S.FEM, case, unchanged, pgc.FEM)
    check(S.FEM, case, unchanged, pgc.FEM, {"k": 1}, k=1.0)


class Gate(torch.nn.Module):
    """Hardsigmoid written out, relu6(x + 3) / 6: the same function, with a second derivative in PyTorch."""

    def forward(self, x):
        return torch.nn.functional.relu6(x + 3) / 6


def test_shapleycam(case, unchanged):
    """Equal to the peer; before MobileNetV3's squeeze-excitation gates, where the peer raises (PyTorch has no
    double backward for Hardsigmoid), equal to the peer on a copy whose gates are written out as Gate."""
    model, x, reshape, (_, (other, _)) = case
    if reshape is not None:  # ours against the peer's formula: test_shapleycam_vit_against_the_peers_formula
        # pytorch-grad-cam 1.5.7's ShapleyCAM fails on a ViT: CPU flash attention has no double backward, and on
        # token layers its activations skip reshape_transform with detach=False ('Invalid activation shape')
        with pytest.raises(Exception, match="Invalid activation shape|not implemented"):
            peer(pgc.ShapleyCAM, model, other, x, TARGETS, reshape)
        return
    if any(isinstance(m, torch.nn.Hardsigmoid) for m in model.modules()):
        with pytest.raises(RuntimeError, match="hardsigmoid_backward"):
            peer(pgc.ShapleyCAM, model, other, x, TARGETS, None)
        written = copy.deepcopy(model)
        for name, m in list(written.named_modules()):
            if isinstance(m, torch.nn.Hardsigmoid):
                written.set_submodule(name, Gate())
        got = ours(S.ShapleyCAM, model, other, x, unchanged)
        want = peer(pgc.ShapleyCAM, written, other, x, TARGETS, None)
        assert want.amax() > 0 and (got - want).abs().max() < ATOL
        assert (got - ours(S.GradCAM, model, other, x, unchanged)).abs().max() > 1e-3  # Hardswish: H A is not 0
        return
    check(S.ShapleyCAM, case, unchanged, pgc.ShapleyCAM)


def output_of(model, layer, x):
    """(logits, the layer's output) of one forward, graph kept where grad is on."""
    seen = []
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        logits = model(x)
    finally:
        h.remove()
    return logits, seen[0]


def test_shapleycam_vit_against_the_peers_formula(tiny_vit, vit_tokens, unchanged):
    """On the ViT (where the peer's call fails) the map equals the peer's formula, mean_ij (g - H A / 2), computed
    here with plain autograd from the token activations; the Hessian term is not 0 there (LayerNorm, attention)."""
    model, x, tokens = tiny_vit, smooth_images(2, seed=1, size=32), vit_tokens
    for layer in ("encoder.layers.encoder_layer_1.ln_1", "encoder.layers.encoder_layer_0"):
        with sdpa_kernel([SDPBackend.MATH]):  # the CPU's flash attention has no double backward
            logits, a = output_of(model, layer, x)
        (g,) = torch.autograd.grad(logits[[0, 1], TARGETS].sum(), a, create_graph=True)
        (hvp,) = torch.autograd.grad(g, a, grad_outputs=a.detach())
        assert hvp.abs().max() > 1e-4 * g.abs().max()
        w = tokens(g - 0.5 * hvp).detach().mean((2, 3))
        cam = torch.relu(torch.einsum("nc,nchw->nhw", w, tokens(a).detach()))
        want = S.normalize(S.upsample(S.normalize(cam), (32, 32)))
        assert (ours(S.ShapleyCAM, model, layer, x, unchanged) - want).abs().max() < ATOL, layer
        assert (ours(S.ShapleyCAM, model, layer, x, unchanged) - ours(S.GradCAM, model, layer, x, unchanged)).abs(
        ).max() > 1e-3  # the correction changes the map


def finer_targets(model, x, comparisons=3, alpha=1.0):
    """The peer's FinerWeightedTarget per image for our explicit targets, by its rule: the classes whose logits are
    nearest the target's (np.argsort of |y - y_t|, positions 1..comparisons)."""
    with torch.no_grad():
        out = model(x).numpy()
    order = np.argsort(np.abs(out - out[np.arange(len(out)), TARGETS][:, None]), axis=-1)
    assert (order[:, 0] == TARGETS).all()
    return [FinerWeightedTarget(t, [int(c) for c in order[i, 1:1 + comparisons]], alpha) for i, t in enumerate(TARGETS)]


def test_finercam(case, unchanged):
    model, x, reshape, _ = case
    for layer, pl in layers(case):
        for alpha in (1.0, 0.5):
            got = ours(S.FinerCAM, model, layer, x, unchanged, alpha=alpha)
            want = peer(pgc.FinerCAM, model, pl, x, finer_targets(model, x, 3, alpha), reshape)
            assert want.amax() > 0 and (got - want).abs().max() < ATOL, (layer, alpha)


def test_kpcacam(case, unchanged):
    """sign='sklearn' is the peer's map; the default orients the component by the mean activation: the peer's
    component, negated where it correlates negatively with the mean activation."""
    model, x, reshape, _ = case
    for kernel in ("sigmoid", "rbf"):
        check(S.KPCACAM, case, unchanged, pgc.KPCA_CAM, {"kernel": kernel}, kernel=kernel, sign="sklearn")
    for layer, pl in layers(case):
        with torch.no_grad():
            a = output_of(model, pl, x)[1]
        a = a if reshape is None else reshape(a)
        proj = torch.from_numpy(get_2d_projection_kernel(a.numpy()))
        ref = a.mean(1)
        flat = ref.flatten(1).amax(1) - ref.flatten(1).amin(1) <= 1e-4 * a.flatten(1).abs().amax(1)  # after LayerNorm
        neg = ((proj - proj.mean((1, 2), True)) * (ref - ref.mean((1, 2), True))).sum((1, 2)) < 0
        s = torch.where(neg & ~flat, -1.0, 1.0)
        want = S.normalize(S.upsample(S.normalize(torch.relu(proj * s[:, None, None])), x.shape[-2:]))
        assert (ours(S.KPCACAM, model, layer, x, unchanged) - want).abs().max() < ATOL, layer


def test_randomcam(case, unchanged):
    """Seed s draws the weights the peer draws after np.random.seed(s) (U(-1, 1), one (N, C) array per layer);
    the same seed gives the same map on every call and for every class, another seed another map."""
    model, x, reshape, _ = case
    for layer, pl in layers(case):
        for seed in (0, 1):
            np.random.seed(seed)
            want = peer(pgc.RandomCAM, model, pl, x, TARGETS, reshape)
            got = ours(S.RandomCAM, model, layer, x, unchanged, seed=seed)
            assert (got - want).abs().max() < ATOL, (layer, seed)
        with unchanged(model):
            m = S.RandomCAM(None if layer == "default" else layer, seed=0)
            assert torch.equal(m(model, x, TARGETS), m(model, x, [0, 0]))
            assert (m(model, x, TARGETS) - S.RandomCAM(m.layers, seed=2)(model, x, TARGETS)).abs().max() > 0.1
