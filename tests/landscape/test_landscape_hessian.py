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


def test_lanczos_and_dense_match_dense_eigenvalues(tiny, unchanged):
    from explorer.landscape import eigen_path

    model, x, y, h = tiny
    lam = torch.linalg.eigvalsh(h)
    top = lam[lam.abs().argsort(descending=True)][:3].numpy()
    scale = abs(top[0])
    for method in ("lanczos", "dense"):
        op = HessianOperator.of(model, x, y)
        with unchanged(model):
            values, vectors = top_eigen(op, k=3, max_iter=100, tol=1e-10, method=method)
        np.testing.assert_allclose(values, top, rtol=0, atol=1e-5 * scale)
        for val, v in zip(values, vectors, strict=True):
            assert torch.linalg.norm(h @ v - val * v) < 1e-5 * scale and abs(v.norm().item() - 1) < 1e-9
        assert op.hvps == (op.dim if method == "dense" else op.hvps) and 0 < op.hvps <= 29
    assert eigen_path(op) == "dense" and eigen_path(op, "lanczos") == "lanczos"  # 29 parameters: dense on auto
    with pytest.raises(ValueError, match="auto, lanczos, dense, power"):
        top_eigen(op, method="arnoldi")


def test_lanczos_stops_early_with_a_bounded_error():
    """Residual rule: |theta - lambda| <= ||H v - theta v|| <= tol |theta|, in far fewer products than the dimension."""
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(400, 400, generator=gen, dtype=torch.float64))
    spec = torch.cat([torch.tensor([50.0, -30.0, 20.0], dtype=torch.float64),
                      torch.rand(397, generator=gen, dtype=torch.float64) * 2 - 1])
    a = (q * spec) @ q.T
    op = HessianOperator(lambda p: 0.5 * p["w"] @ a @ p["w"], {"w": torch.zeros(400, dtype=torch.float64,
                                                                             requires_grad=True)})
    values, _ = top_eigen(op, k=3, tol=1e-6, method="lanczos")
    np.testing.assert_allclose(values, [50.0, -30.0, 20.0], rtol=1e-6)
    assert op.hvps < 100


def test_lanczos_basis_grows_with_the_iterations(largest_tensor):
    """A run that converges in a few products never allocates the (max_iter + 1) x dim Krylov basis."""
    d = torch.cat([torch.tensor([10.0, 5.0]), torch.linspace(0.0, 0.1, 4998)])
    op = HessianOperator(lambda p: 0.5 * (d * p["w"] ** 2).sum(), {"w": torch.zeros(5000, requires_grad=True)})
    with largest_tensor() as seen:
        values, _ = top_eigen(op, k=1, max_iter=2000, tol=1e-4, method="lanczos")
    assert values[0] == pytest.approx(10.0, rel=1e-4) and op.hvps < 16
    assert seen.bytes <= 16 * 5000 * 4  # at most 16 rows (doubled from 8), not 2001


@pytest.mark.slow  # torch.func's first jvp in a process imports for several seconds
def test_jvp_products_equal_double_backward(tiny):
    model, x, y, h = tiny
    v = torch.randn(h.shape[0], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for mode in ("double", "jvp"):
        torch.testing.assert_close(HessianOperator.of(model, x, y, mode=mode).matvec(v), h @ v, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="double, jvp"):
        HessianOperator.of(model, x, y, mode="fd")


@pytest.mark.slow  # about 4 s on one core: 40 estimates of up to 60-200 products
@pytest.mark.parametrize(("tol", "cap"), [(0.02, 60), (0.3, 200)])  # never stops (cap reached) / stops early
def test_trace_error_bar_covers_the_dense_trace(tiny, tol, cap):
    """Over 20 seeds the reported +-2 SE bar holds the exact trace at least 17 times; no stop before 10 samples."""
    model, x, y, h = tiny
    exact = torch.trace(h).item()
    hits, sizes = 0, []
    for seed in range(20):
        t = trace(HessianOperator.of(model, x, y), max_iter=cap, tol=tol, seed=seed)
        assert len(t.samples) >= 10 and t.se > 0
        hits += abs(t.estimate - exact) <= 2 * t.se
        sizes.append(len(t.samples))
    assert hits >= 17, hits
    assert tol > 0.1 or min(sizes) == cap  # with tol=0.3 the rule stops early (45-125 samples on this model)
    assert tol < 0.1 or max(sizes) < cap


def test_trace_negative_is_not_stopped_at_once():
    """PyHessian's relative change divides by the signed mean: a negative trace ends after two samples."""
    gen = torch.Generator().manual_seed(2)
    b = torch.randn(30, 30, generator=gen, dtype=torch.float64)
    a = (b + b.T) / 2 - 3 * torch.eye(30, dtype=torch.float64)  # trace about -90, spread samples
    op = HessianOperator(lambda p: 0.5 * p["w"] @ a @ p["w"], {"w": torch.zeros(30, dtype=torch.float64,
                                                                            requires_grad=True)})
    t = trace(op, tol=0.02, seed=0)
    assert len(t.samples) >= 10 and abs(t.estimate - torch.trace(a).item()) <= 3 * t.se
    assert 2 * t.se <= 0.02 * abs(t.estimate) or len(t.samples) == 200


def test_spectrum_reports_path_products_and_error_bar(tiny, unchanged):
    from explorer.landscape import lab

    model, x, y, h = tiny
    with unchanged(model):
        out = lab.spectrum(model, x, y, k=2, iters=10)
    assert out["path"] == "dense" and set(out["hvps"]) == {"top", "trace", "density"}
    assert out["hvps"]["top"] == h.shape[0] and out["hvps"]["trace"] == out["trace_samples"]
    assert out["hvps"]["density"] <= 10
    assert out["trace_se"] > 0 and abs(out["trace"] - torch.trace(h).item()) <= 4 * out["trace_se"]
    lam = torch.linalg.eigvalsh(h)
    np.testing.assert_allclose(out["top"], lam[lam.abs().argsort(descending=True)][:2].numpy(), rtol=1e-6)
