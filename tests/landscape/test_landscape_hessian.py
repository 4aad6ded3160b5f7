"""Hessian: top eigenpairs, Hutchinson trace and SLQ density against a dense Hessian and a known quadratic."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from explorer.landscape import HessianOperator, density, eigenvalue_density, top_eigen, trace


@pytest.fixture
def tiny():
    """A 2-layer tanh MLP with 29 parameters, its data, and its dense Hessian (the oracle)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 3)).double().eval()
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(20, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (20,), generator=gen)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat):
        parts = dict(zip(names, torch.split(flat, [s.numel() for s in shapes]), strict=True))
        params = {n: parts[n].reshape(s) for n, s in zip(names, shapes, strict=True)}
        return F.cross_entropy(functional_call(model, params, (x,)), y)
    return model, x, y, torch.autograd.functional.hessian(loss, flat0)


def test_top_eigen_matches_dense(tiny, unchanged):
    model, x, y, h = tiny
    lam = torch.linalg.eigvalsh(h)
    top = lam[lam.abs().argsort(descending=True)][:2]
    with unchanged(model):
        values, vectors = top_eigen(HessianOperator.of(model, x, y), k=2, max_iter=500, tol=1e-8)
    np.testing.assert_allclose(values, top.numpy(), rtol=1e-3)
    for val, v in zip(values, vectors, strict=True):  # eigenvectors: H v = lambda v, unit norm
        torch.testing.assert_close(h @ v, val * v, rtol=0, atol=2e-3 * abs(values[0]))
        assert abs(v.norm().item() - 1) < 1e-5
    assert abs(vectors[0] @ vectors[1]) < 1e-3
    assert all(p.grad is None for p in model.parameters())


def test_trace_matches_dense_sample_by_sample(tiny):
    model, x, y, h = tiny
    est, samples = trace(HessianOperator.of(model, x, y), max_iter=40, tol=0.0, seed=3)
    gen = torch.Generator().manual_seed(3)  # the same Rademacher draws, applied to the dense Hessian
    vs = [torch.randn(h.shape[0], generator=gen, dtype=torch.float64).sign() for _ in range(40)]
    np.testing.assert_allclose(samples, [(v @ h @ v).item() for v in vs], rtol=1e-6)
    assert abs(est - torch.trace(h).item()) < 4 * np.std(samples) / np.sqrt(40)  # unbiased


def test_slq_density_nodes_are_the_spectrum(tiny):
    model, x, y, h = tiny
    nodes, weights = eigenvalue_density(HessianOperator.of(model, x, y), iters=200, runs=2, seed=0)
    lam = torch.linalg.eigvalsh(h).numpy()
    for ns, ws in zip(nodes, weights, strict=True):
        assert abs(sum(ws) - 1) < 1e-6 and len(ns) <= h.shape[0]
        for node, w in zip(ns, ws, strict=True):
            if w > 1e-6:  # every Ritz value carrying weight is an eigenvalue of H
                assert np.min(np.abs(lam - node)) < 1e-5 * max(1, abs(lam).max())
        assert max(ns) == pytest.approx(lam.max(), rel=1e-4) or max(ns) < lam.max()
    grid = np.linspace(min(map(min, nodes)) - 1, max(map(max, nodes)) + 1, 4001)
    assert np.trapezoid(density(nodes, weights, grid), grid) == pytest.approx(1.0, rel=1e-6)


def test_known_quadratic():
    a = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5], dtype=torch.float64)
    w = torch.randn(5, dtype=torch.float64)
    op = HessianOperator(lambda p: 0.5 * (a * p["w"] ** 2).sum(), {"w": w.clone().requires_grad_(True)})
    values, vectors = top_eigen(op, k=3, max_iter=1000, tol=1e-10)
    np.testing.assert_allclose(values, [5.0, 3.0, 2.0], rtol=1e-4)
    assert abs(vectors[0][0].item()) == pytest.approx(1.0, abs=1e-3)  # the eigenvector of 5 is e_1
    est, samples = trace(op)
    assert est == pytest.approx(11.5) and samples[0] == pytest.approx(11.5)  # exact for a diagonal H
    nodes, weights = eigenvalue_density(op, iters=10)
    np.testing.assert_allclose(sorted(nodes[0]), sorted(a.tolist()), rtol=1e-6)
    assert op.to_dict(vectors[0])["w"].shape == (5,)


def test_one_layer_is_the_dense_sub_block(tiny):
    model, x, y, h = tiny
    op = HessianOperator.of(model, x, y, layers="2")  # the second Linear: 12 parameters, the last block of h
    assert op.dim == 12
    sub = torch.linalg.eigvalsh(h[-12:, -12:])
    (value,), (vec,) = top_eigen(op, k=1, max_iter=1000, tol=1e-10)
    assert value == pytest.approx(sub[sub.abs().argmax()].item(), rel=1e-3)
    d = op.to_dict(vec)
    assert torch.count_nonzero(d["0.weight"]) == 0 and d["2.weight"].shape == (3, 3)
    with pytest.raises(KeyError, match="choose among"):
        HessianOperator.of(model, x, y, layers="conv9")
    with pytest.raises(ValueError, match="between 1 and"):
        top_eigen(op, k=0)


@pytest.mark.filterwarnings("ignore:Using backward")  # PyHessian's own create_graph=True backward
def test_top_eigenvalue_matches_pyhessian(unchanged):
    hessian = pytest.importorskip("pyhessian").hessian
    import copy

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 4, 4, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    with unchanged(model):
        (ours,), _ = top_eigen(HessianOperator.of(model, x, y), k=1, max_iter=300, tol=1e-6)
    theirs = hessian(copy.deepcopy(model), nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    (ref,), _ = theirs.eigenvalues(maxIter=300, tol=1e-6)
    assert ours == pytest.approx(ref, rel=1e-3)
