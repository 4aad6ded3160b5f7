"""Layer conductance against Captum's LayerConductance within 1e-4 (same steps, points and baseline), its
completeness known answer, and the registered method's map."""
import pytest
import torch

from explorer.saliency import METHODS
from explorer.saliency.methods.conductance import LayerConductance, conductance, path_alphas

captum_attr = pytest.importorskip("captum.attr")
tv = pytest.importorskip("torchvision")



def peer(model, x, layer, t, steps, method, baseline):
    mod = dict(model.named_modules())[layer]
    return captum_attr.LayerConductance(model, mod).attribute(x, baselines=baseline, target=t.tolist(),
                                                              n_steps=steps, method=method)


@pytest.mark.parametrize("layer", ["conv1", "relu2"])
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_parity_small_cnn(tiny_cnn, unchanged, layer, method):
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0, 2, 1])
    with unchanged(tiny_cnn):
        ours = conductance(tiny_cnn, x, layer, t, steps=20, method=method, baseline=0.5, batch_size=16)
    ref = peer(tiny_cnn, x, layer, t, 20, method, 0.5)  # several passes of ours against Captum's one
    assert ours.shape == ref.shape == (3, 6 if layer == "relu2" else 4, 8, 8)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)


def test_completeness(tiny_cnn):
    """With the end points (trapezoid) the units' shares add up to S_t(x) - S_t(b), up to the path's rounding."""
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([1, 2])
    c = conductance(tiny_cnn, x, "conv2", t, steps=400, method="riemann_trapezoid")
    with torch.no_grad():
        diff = (tiny_cnn(x) - tiny_cnn(torch.zeros_like(x))).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(c.flatten(1).sum(1), diff, atol=2e-3, rtol=1e-3)
    assert path_alphas("riemann_trapezoid", 3) == [0.0, 0.5, 1.0]


@pytest.fixture(scope="module")
def resnet18(calibrated):
    return calibrated("resnet18")


@pytest.mark.parametrize("layer", ["layer3", "layer4.0.conv2"])
def test_parity_resnet18(resnet18, unchanged, layer):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        t = resnet18(x).argmax(1)
    with unchanged(resnet18):
        ours = conductance(resnet18, x, layer, t, steps=8, baseline=0.0, batch_size=8)
    torch.testing.assert_close(ours, peer(resnet18, x, layer, t, 8, "gausslegendre", 0.0), atol=1e-4, rtol=0)


def test_registered_map(tiny_cnn, unchanged):
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0, 1])
    m = METHODS["Layer conductance"](layers="conv2", steps=10)
    assert isinstance(m, LayerConductance)
    with unchanged(tiny_cnn):
        raw = m(tiny_cnn, x, t, raw=True)
        maps = m(tiny_cnn, x, t)
    expect = conductance(tiny_cnn, x, "conv2", t, steps=10).sum(1).clamp_min(0)  # 8 x 8: no upsampling
    torch.testing.assert_close(raw, expect, atol=1e-6, rtol=1e-6)
    assert maps.shape == (2, 8, 8) and maps.max() == pytest.approx(1, abs=1e-6)
    with pytest.raises(ValueError, match="path 'simpson'"):
        METHODS["Layer conductance"](layers="conv2", method="simpson")(tiny_cnn, x, t)


def test_no_graph_below_the_layer(tiny_cnn, unchanged):
    """Only dS/dA is asked for: the layers below run without a graph, and the numbers equal the full graph's."""
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([2, 0])
    graph = []
    h = tiny_cnn.conv1.register_forward_hook(lambda m, i, o: graph.append(o.requires_grad))
    try:
        with unchanged(tiny_cnn):
            ours = conductance(tiny_cnn, x, "conv2", t, steps=6, batch_size=64)  # one pass of 7 points
    finally:
        h.remove()
    assert graph == [False]
    a = torch.tensor(path_alphas("gausslegendre", 7)).view(-1, 1, 1, 1, 1)
    with torch.enable_grad():  # the full graph, from the parameters of conv1 on
        act = tiny_cnn[:3]((a * x).flatten(0, 1))
        assert act.grad_fn is not None
        logits = tiny_cnn[3:](act.clone())
        (g,) = torch.autograd.grad(logits.gather(1, t.repeat(7)[:, None]).sum(), act)
    act, g = act.detach().unflatten(0, (7, 2)), g.unflatten(0, (7, 2))
    assert torch.equal(ours, (g[:-1] * (act[1:] - act[:-1])).sum(0))
