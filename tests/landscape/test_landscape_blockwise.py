"""Per-layer Hessian spectra and the activation Hessian against dense Hessians (torch.autograd.functional.hessian)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from explorer.landscape import activation_operator, exact_trace, layer_spectra, parameter_groups, top_eigen


@pytest.fixture
def tiny():
    """A tanh MLP: group '0' has 40 parameters (Lanczos), group '2' 27 (the dense path), float64."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    gen = torch.Generator().manual_seed(1)
    return model, torch.randn(20, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (20,), generator=gen)


def dense_block(model, x, y, group):
    """The Hessian w.r.t. the group's flattened parameters, every other parameter fixed."""
    names = [n for n, _ in model.named_parameters() if n.startswith(group + ".")]
    full = dict(model.named_parameters())
    shapes = [full[n].shape for n in names]

    def loss(flat):
        parts = torch.split(flat, [s.numel() for s in shapes])
        params = {**{n: p.detach() for n, p in full.items()},
                  **{n: t.reshape(s) for n, t, s in zip(names, parts, shapes, strict=True)}}
        return F.cross_entropy(functional_call(model, params, (x,)), y)
    return torch.autograd.functional.hessian(loss, torch.cat([full[n].detach().reshape(-1) for n in names]))


def top_by_magnitude(h):
    lam = torch.linalg.eigvalsh(h)
    return lam[lam.abs().argmax()].item()


def test_blocks_equal_the_dense_hessians_blocks(tiny, unchanged):
    model, x, y = tiny
    with unchanged(model):
        exact = layer_spectra(model, x, y, tol=1e-10, max_iter=500, exact=True)
        est = layer_spectra(model, x, y, trace_samples=400, seed=3)
    assert [s.group for s in exact] == ["0", "2"] == parameter_groups(model) and [s.dim for s in exact] == [40, 27]
    assert all(p.grad is None for p in model.parameters())
    for e, h in zip(exact, est, strict=True):
        block = dense_block(model, x, y, e.group)
        assert e.top[0] == pytest.approx(top_by_magnitude(block), rel=1e-6)
        assert e.trace == pytest.approx(torch.trace(block).item(), rel=1e-10) and e.trace_se == 0
        assert len(h.samples) == 400 and h.trace_se > 0  # Hutchinson: within its error bar
        assert abs(h.trace - torch.trace(block).item()) < 3 * h.trace_se


def test_the_full_hessians_diagonal_blocks(tiny):
    """The groups' blocks are the diagonal blocks of the Hessian over all parameters."""
    from explorer.landscape import HessianOperator

    model, x, y = tiny
    h = HessianOperator.of(model, x, y).dense()
    assert exact_trace(HessianOperator.of(model, x, y, layers=["0"])).estimate == pytest.approx(
        torch.trace(h[:40, :40]).item(), rel=1e-10)
    torch.testing.assert_close(dense_block(model, x, y, "2"), h[40:, 40:], rtol=1e-8, atol=1e-12)


def test_activation_hessian(tiny, tiny_cnn, unchanged):
    model, x, y = tiny
    with torch.no_grad():
        a = torch.tanh(model[0](x))
    dense = torch.autograd.functional.hessian(lambda h: F.cross_entropy(model[2](h), y), a).reshape(160, 160)
    with unchanged(model):
        op = activation_operator(model, x, y, "1")
        top, _ = top_eigen(op, tol=1e-10, max_iter=200)
    assert op.dim == 160 and top[0] == pytest.approx(top_by_magnitude(dense), rel=1e-6)
    assert exact_trace(op).estimate == pytest.approx(torch.trace(dense).item(), rel=1e-10)
    xc, yc = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 0, 1, 2])
    with unchanged(tiny_cnn):  # conv1 feeds an in-place ReLU
        top, _ = top_eigen(activation_operator(tiny_cnn, xc, yc, "conv1"), max_iter=30)
    assert np.isfinite(top[0]) and top[0] > 0


def test_groups_and_errors(tiny):
    import torchvision

    model, x, y = tiny
    net = torchvision.models.resnet18(weights=None)
    assert parameter_groups(net, "block") == ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    assert parameter_groups(net)[:3] == ["conv1", "bn1", "layer1.0.conv1"]
    with pytest.raises(ValueError, match="'row'"):
        parameter_groups(model, "row")
    with pytest.raises(KeyError, match="9"):
        layer_spectra(model, x, y, groups=["9"])
    twice = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    twice.forward = lambda t: twice[2](twice[1](twice[1](twice[0](t))))
    with pytest.raises(ValueError, match="runs 2 times"):
        activation_operator(twice, x, y, "1")


def test_jobs_on_the_session_and_a_checkpoint(trained_session, unchanged):
    from explorer.landscape.blockwise import activation_spectra
    from explorer.landscape.lab import activation_spectra_job, eval_batch, layer_spectra_job

    s = trained_session
    job = layer_spectra_job(s, "layer", n=32, trace_samples=5)
    assert job.estimate().seconds > 0
    with unchanged(s.model):
        got = job.run()
        act = activation_spectra_job(s, ["conv1"], n=32).run()
    names = parameter_groups(s.model)
    assert [g.group for g in got] == names and all(len(g.samples) == 5 and g.trace_se > 0 for g in got)
    x, y = eval_batch(s.data, 32, "train")
    direct = layer_spectra(s.model, x, y, groups=names[:1], trace_samples=5)[0]
    assert direct.top == pytest.approx(got[0].top, rel=1e-6) and direct.trace == pytest.approx(got[0].trace, rel=1e-6)
    assert act["conv1"] == pytest.approx(activation_spectra(s.model, x, y, "conv1")["conv1"], rel=1e-6)
    assert s.history.checkpoints  # over training: the same job on each checkpoint's session
    first = layer_spectra_job(s.at(0), names[:1], n=32, trace_samples=5).run()
    assert first[0].group == names[0] and first[0].top != got[0].top
