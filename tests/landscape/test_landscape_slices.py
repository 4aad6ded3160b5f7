"""Slices: centred regular grid, origin = model loss, no drift, preview reuse, vmap = eager, NaN, BatchNorm."""
import copy

import numpy as np
import pytest
import torch

from explorer.landscape import axis, fast, preview_indices, random_direction, random_plane, slice_grid
from explorer.landscape import functional as fn
from explorer.landscape import vmap as vm
from explorer.models import MLP
from explorer.train import evaluate


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(40, 1, 8, 8, generator=gen), torch.randint(0, 3, (40,), generator=gen)


@pytest.fixture
def bn_mlp():
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 8, 2, 3, batchnorm=True)
    with torch.no_grad():
        model.train()
        model(torch.randn(64, 1, 8, 8) * 2 + 0.5)  # non-trivial running statistics
    return model.eval()


def moved(model, d1, a, d2=None, b=0.0):
    """An independent copy of the model at theta + a d1 + b d2 (the reference the grid must match)."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.add_(d1[n], alpha=a)
            if d2 is not None:
                p.add_(d2[n], alpha=b)
    return m


def test_axis_centred_even_origin_exact():
    a = axis(0.7, 21)
    assert a[10] == 0.0 and a[0] == -0.7 and a[-1] == 0.7
    assert np.array_equal(a, -a[::-1])  # symmetric bit for bit
    np.testing.assert_allclose(np.diff(a), 0.07, rtol=1e-12)  # equal steps
    with pytest.raises(ValueError, match="zero range"):
        axis(0.0, 21)
    with pytest.raises(ValueError, match="odd"):
        axis(1.0, 20)
    assert list(preview_indices(21, 3)) == [1, 4, 7, 10, 13, 16, 19]  # a sub-grid through the centre


def test_origin_equals_model_loss_and_grid_is_aligned(tiny_cnn, batch, unchanged):
    x, y = batch
    d1, d2 = random_plane(tiny_cnn, seed=0)
    with unchanged(tiny_cnn):
        s = slice_grid(tiny_cnn, x, y, d1, d2, span=0.5, n=5, preview=1)
    ref = evaluate(tiny_cnn, x, y)
    assert s.origin() == (pytest.approx(ref.loss, rel=1e-6, abs=1e-7), pytest.approx(ref.accuracy))
    assert s.complete and s.loss.shape == (5, 5)
    # every point equals an independent evaluation at (alphas[i], betas[j]): catches a misaligned serpentine grid
    # (loss-landscapes' odd columns sit one step off) and drift from accumulated add/sub
    for i in range(5):
        for j in range(5):
            e = evaluate(moved(tiny_cnn, d1, float(s.alphas[i]), d2, float(s.betas[j])), x, y)
            assert s.loss[i, j] == pytest.approx(e.loss, rel=1e-5), (i, j)
            assert s.accuracy[i, j] == pytest.approx(e.accuracy)
    assert np.array_equal(s.alphas, s.betas)


def test_line_and_preview_reused(tiny_cnn, batch, monkeypatch):
    x, y = batch
    d = random_direction(tiny_cnn, seed=1)
    calls, seen = [], []
    real, real_fast = fn.metrics, fast.metrics_fast
    monkeypatch.setattr(fn, "metrics", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(fast, "metrics_fast", lambda *a: calls.append(1) or real_fast(*a))
    s = slice_grid(tiny_cnn, x, y, d, d2=None, span=1.0, n=9, preview=4,
                   callback=lambda done, total, surf: seen.append((done, total, surf.done.copy(), surf.loss.copy())))
    assert s.loss.shape == (9,) and len(calls) == 9  # every point computed once: preview values are kept
    first_done, total, mask, loss = seen[0]
    assert total == 9 and seen[-1][0] == 9 and [d for d, *_ in seen] == sorted(d for d, *_ in seen)
    assert list(np.flatnonzero(mask)) == [0, 4, 8] and first_done == 3  # the preview is reported first
    np.testing.assert_array_equal(loss[mask], s.loss[mask])  # refined in place: preview values unchanged
    line = evaluate(moved(tiny_cnn, d, 1.0), x, y).loss
    assert s.loss[-1] == pytest.approx(line, rel=1e-5)


def test_preview_first_in_2d(tiny_cnn, batch):
    x, y = batch
    d1, d2 = random_plane(tiny_cnn, seed=0)
    masks = []
    s = slice_grid(tiny_cnn, x, y, d1, d2, span=1.0, n=7, preview=3,
                   callback=lambda done, total, surf: masks.append((done, surf.done.copy(), surf.filled().copy())))
    pre = preview_indices(7, 3)
    done, mask, filled = next(m for m in masks if m[0] >= 9)  # a report falls exactly at the preview's end
    assert done == 9 and mask[np.ix_(pre, pre)].all() and mask.sum() == len(pre) ** 2 == 9
    assert not np.isnan(filled).any()  # the preview is drawable over the whole grid
    assert s.complete


@pytest.mark.parametrize("model_name", ["tiny_cnn", "bn_mlp"])
def test_vmap_equals_eager(model_name, batch, request, unchanged):
    model = request.getfixturevalue(model_name)
    x, y = batch
    d1, d2 = random_plane(model, one_d="scaled", seed=2)
    with unchanged(model):
        eager = slice_grid(model, x, y, d1, d2, span=0.8, n=5, backend="eager")
        batched = slice_grid(model, x, y, d1, d2, span=0.8, n=5, backend="vmap", chunk=4)
    np.testing.assert_allclose(batched.loss, eager.loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(batched.accuracy, eager.accuracy)


def test_vmap_halves_chunk_on_out_of_memory(tiny_cnn, batch, monkeypatch):
    x, y = batch
    d = random_direction(tiny_cnn, seed=0)
    real, sizes = vm._chunk_metrics, []

    def fake(model, base, buffers, d1, d2, x, y, coef):
        sizes.append(len(coef))
        if len(coef) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, base, buffers, d1, d2, x, y, coef)
    monkeypatch.setattr(vm, "_chunk_metrics", fake)
    s = slice_grid(tiny_cnn, x, y, d, span=1.0, n=7, backend="vmap", chunk=8)
    ref = slice_grid(tiny_cnn, x, y, d, span=1.0, n=7, backend="eager")
    assert sizes == [3, 3, 2, 1, 2, 2] and s.complete  # preview of 3 points: 8 -> 4 -> 2 (kept), then pairs
    np.testing.assert_allclose(s.loss, ref.loss, rtol=1e-5)


@pytest.mark.parametrize("backend", ["eager", "vmap"])
def test_nan_losses_kept_as_nan(tiny_cnn, batch, backend):
    x, y = batch
    d = {k: torch.full_like(v, 1e38) for k, v in random_direction(tiny_cnn, one_d="scaled").items()}
    s = slice_grid(tiny_cnn, x, y, d, span=1.0, n=5, backend=backend)
    assert s.complete and np.isnan(s.loss[3:]).all() and np.isnan(s.accuracy[3:]).all() and np.isfinite(s.loss[2])


def test_bn_recompute_matches_update_bn(bn_mlp, batch, unchanged):
    x, y = batch
    bn_x = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    d1 = random_direction(bn_mlp, seed=0)
    with unchanged(bn_mlp):
        s = slice_grid(bn_mlp, x, y, d1, span=0.5, n=3, bn="recompute", bn_x=bn_x)
        keep = slice_grid(bn_mlp, x, y, d1, span=0.5, n=3, bn="keep")
    for i, a in enumerate(s.alphas):
        ref = moved(bn_mlp, d1, float(a))
        for m in ref.modules():  # torch's own update_bn recipe: reset, cumulative average, one train-mode pass
            if isinstance(m, torch.nn.BatchNorm1d):
                m.reset_running_stats()
                m.momentum = None
        ref.train()
        with torch.no_grad():
            ref(bn_x)
        assert s.loss[i] == pytest.approx(evaluate(ref.eval(), x, y).loss, rel=1e-5)
    assert keep.origin()[0] == pytest.approx(evaluate(bn_mlp, x, y).loss, rel=1e-6)
    assert s.origin()[0] != pytest.approx(keep.origin()[0], rel=1e-4)  # the policy matters
    with pytest.raises(ValueError, match="bn_x"):
        slice_grid(bn_mlp, x, y, d1, bn="recompute")
    with pytest.raises(ValueError, match="keep, recompute"):
        slice_grid(bn_mlp, x, y, d1, bn="moving")


def test_bad_input_clear_errors(tiny_cnn, batch, monkeypatch):
    x, y = batch
    d = random_direction(tiny_cnn)
    with pytest.raises(ValueError, match="zero range"):
        slice_grid(tiny_cnn, x, y, d, span=0.0)
    with pytest.raises(ValueError, match="auto, eager, fast, vmap"):
        slice_grid(tiny_cnn, x, y, d, backend="gpu")
    with pytest.raises(KeyError, match="exactly the model's parameters"):
        slice_grid(tiny_cnn, x, y, {"conv1.weight": d["conv1.weight"]})
    with pytest.raises(ValueError, match="shapes differ"):
        slice_grid(tiny_cnn, x, y, {**d, "fc.weight": d["fc.weight"][:1]})
    monkeypatch.setattr(fn, "free_bytes", lambda device: 1000)
    with pytest.raises(MemoryError, match="MiB per point"):
        slice_grid(tiny_cnn, x, y, d, span=1.0, n=5)


def test_origin_on_the_default_cnn(digits, unchanged):
    from explorer import build_model
    from explorer.landscape import lab

    model = build_model("cnn", digits, seed=0).eval()  # SmallCNN, in-place ReLUs, 512 digits test inputs
    x, y = lab.eval_batch(digits, 512)
    with unchanged(model):
        s = slice_grid(model, x, y, *random_plane(model, seed=0), span=1.0, n=3, preview=1)
    ref = evaluate(model, x, y)
    assert s.origin()[0] == pytest.approx(ref.loss, rel=1e-6) and s.origin()[1] == pytest.approx(ref.accuracy)


def test_core_imports_no_widgets():
    import subprocess
    import sys

    code = ("import sys, explorer.landscape; bad = {'ipywidgets', 'bokeh', 'umap', 'jupyter_bokeh'} & set(sys.modules);"
            " assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vmap_chunk_from_free_memory(tiny_cnn, monkeypatch):
    monkeypatch.setattr(vm, "free_bytes", lambda device: 10_000)
    assert vm.vmap_chunk(tiny_cnn, per_point=1_000, n_points=441) == 5  # half the free memory / bytes per point
    assert vm.vmap_chunk(tiny_cnn, per_point=10**9, n_points=441) == 1
    assert vm.vmap_chunk(tiny_cnn, per_point=1, n_points=441) == 441


def test_non_finite_directions_are_refused_at_entry(tiny_cnn, batch, unchanged):
    """A NaN in a direction gave NaN losses and predictions of class 0 with no word: every entry refuses it."""
    from explorer.landscape import interpolate
    from explorer.landscape.lab import at_point, project

    x, y = batch
    d1, d2 = random_plane(tiny_cnn, seed=0)
    bad = {**d2, "conv2.bias": d2["conv2.bias"].clone()}
    bad["conv2.bias"][1] = float("nan")
    inf = {**d1, "fc.weight": torch.full_like(d1["fc.weight"], float("inf"))}
    with unchanged(tiny_cnn):
        for backend in ("eager", "fast"):
            with pytest.raises(ValueError, match="d2 holds NaN or inf in conv2.bias"):
                slice_grid(tiny_cnn, x, y, d1, bad, n=3, backend=backend)
        with pytest.raises(ValueError, match="d1 holds NaN or inf in fc.weight"):
            slice_grid(tiny_cnn, x, y, inf, n=3)
        with pytest.raises(ValueError, match="d2 holds NaN or inf"):
            at_point(tiny_cnn, d1, bad, 0.1, 0.2, x, y, x[:2])
        with pytest.raises(ValueError, match="beta must be a finite number"):
            at_point(tiny_cnn, d1, d2, 0.1, float("nan"), x, y, x[:2])
        with pytest.raises(ValueError, match="d1 holds NaN or inf"):
            project(tiny_cnn, [(0, tiny_cnn.state_dict())], inf, d2)
        with pytest.raises(ValueError, match="alphas must be .* finite"):
            interpolate(tiny_cnn, tiny_cnn, tiny_cnn, x, y, alphas=[0.0, float("nan"), 1.0])
        ok = at_point(tiny_cnn, d1, d2, 0.0, 0.0, x, y, x[:2])
    assert np.isfinite(ok["loss"])
