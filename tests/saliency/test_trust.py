"""Trust metrics: sanity checks (known answers on a weight-independent map and on the trained CNN), similarity,
faithfulness/robustness/simplicity metrics (hand-computed values, Quantus parity on replayed draws), disagreement."""
import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from explorer.saliency import EigenCAM, GradCAM, GuidedBackprop, InputGradient
from explorer.saliency.evaluation import faithfulness as fa
from explorer.saliency.evaluation.disagreement import metric_agreement
from explorer.saliency.evaluation.sanity import data_randomization, model_randomization, param_layers, reinit
from explorer.saliency.evaluation.similarity import spearman, ssim, ssim_flat, ssim_ours, ssim_window


def edge_net():
    """A fixed Sobel edge detector on the input, then seeded random layers: Eigen-CAM at 'edge' sees only the
    input path, so its maps cannot depend on the layers above."""
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(edge=nn.Conv2d(1, 2, 3, padding=1, bias=False), relu=nn.ReLU(),
                                    conv=nn.Conv2d(2, 4, 3, padding=1), relu2=nn.ReLU(),
                                    gap=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(4, 10)))
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    with torch.no_grad():
        net.edge.weight.copy_(torch.stack([sobel, sobel.T])[:, None])
    return net.eval()


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_sanity_curves_stay_at_one_for_a_weight_independent_map(digits, mode, unchanged):
    net, x = edge_net(), digits.inputs("test")[:6]
    calls = []
    with unchanged(net):
        out = model_randomization(net, x, {"eigen": EigenCAM("edge"), "grad": InputGradient()}, mode=mode,
                                  layers=["conv", "fc"], progress=lambda d, t, info: calls.append((d, t, info)))
    assert out["layers"] == ["original", "fc", "conv"]  # top down
    for metric in ("spearman", "spearman_abs", "ssim"):
        np.testing.assert_allclose(out["methods"]["eigen"][metric], 1.0, atol=1e-9)
    assert out["methods"]["grad"]["spearman"][-1] < 0.9  # the gradient does depend on the weights
    assert calls == [(1, 2, {"layer": "fc"}), (2, 2, {"layer": "conv"})]


def test_sanity_curves_fall_for_gradcam_on_the_trained_cnn(trained_session, unchanged):
    model, x = trained_session.model, trained_session.data.inputs("test")[:12]
    with unchanged(model):
        out = model_randomization(model, x, {"Grad-CAM": GradCAM("conv3"), "GB": GuidedBackprop()})
    assert out["layers"] == ["original", "fc", "conv3", "conv2", "conv1"]
    gc, gb = out["methods"]["Grad-CAM"], out["methods"]["GB"]
    assert max(gc["spearman"][1:]) < 0.6 and max(gc["ssim"][1:]) < 0.5
    # guided backprop is known to fail the check (Adebayo et al. 2018): its maps stay close to the original
    assert gb["ssim"][-1] > gc["ssim"][-1] + 0.2


def test_randomisation_leaves_model_and_global_rng_alone(tiny_cnn, unchanged):
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    state = torch.random.get_rng_state()
    with unchanged(tiny_cnn):
        a = model_randomization(tiny_cnn, x, ["Grad-CAM"], seed=5)
        b = model_randomization(tiny_cnn, x, ["Grad-CAM"], mode="independent", seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert len(a["methods"]["Grad-CAM"]["ssim"]) == len(b["methods"]["Grad-CAM"]["ssim"]) == 4
    assert param_layers(tiny_cnn) == ["conv1", "conv2", "fc"]
    with pytest.raises(ValueError, match="mode"):
        model_randomization(tiny_cnn, torch.randn(2, 1, 8, 8), ["Grad-CAM"], mode="bottom-up")
    with pytest.raises(ValueError, match="parametrised"):
        model_randomization(tiny_cnn, torch.randn(2, 1, 8, 8), ["Grad-CAM"], layers=["relu1"])


def test_reinit_is_seeded(tiny_cnn):
    import copy

    a, b = copy.deepcopy(tiny_cnn), copy.deepcopy(tiny_cnn)
    reinit(a.conv2, 3), reinit(b.conv2, 3)
    assert torch.equal(a.conv2.weight, b.conv2.weight) and not torch.equal(a.conv2.weight, tiny_cnn.conv2.weight)


@pytest.mark.slow
def test_data_randomisation_through_the_trainer(trained_session, unchanged):
    model = trained_session.model
    with unchanged(model):
        out = data_randomization(model, trained_session.data, trained_session.data.inputs("test")[:12],
                                 {"Grad-CAM": GradCAM("conv3")}, epochs=3)
    assert out["train_accuracy"] < 0.5  # shuffled labels cannot be learnt in 3 epochs
    assert out["methods"]["Grad-CAM"]["ssim"] < 0.6


def test_similarity_measures():
    gen = torch.Generator().manual_seed(0)
    from scipy.stats import spearmanr

    a, b = torch.rand(8, 8, generator=gen), torch.rand(8, 8, generator=gen)
    assert spearman(a, b) == pytest.approx(spearmanr(a.flatten(), b.flatten())[0], abs=1e-12)
    assert math.isnan(spearman(torch.zeros(8, 8), a))
    for shape in ((8, 8), (5, 9), (32, 32)):
        a, b = torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)
        ours = ssim_ours(a, b, 1.0, **ssim_window(shape))
        assert ssim(a, a) == pytest.approx(1.0)
        pytest.importorskip("skimage")
        assert ssim(a, b) == pytest.approx(ours, abs=1e-10)
    with pytest.raises(ValueError, match="3x3"):
        ssim(torch.rand(2, 2), torch.rand(2, 2))


def test_sparseness_and_complexity_known_answers():
    n = 64
    one = torch.zeros(2, 8, 8)
    one[:, 3, 4] = 1.0
    uniform = torch.full((2, 8, 8), 0.5)
    assert torch.allclose(fa.sparseness(one), torch.tensor(1 - 1 / n, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(fa.sparseness(uniform), torch.zeros(2, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(fa.complexity(uniform), torch.tensor(math.log(n), dtype=torch.float64), atol=1e-9)
    assert torch.allclose(fa.complexity(one), torch.zeros(2, dtype=torch.float64), atol=1e-9)


def linear_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).eval()


def test_faithfulness_correlation_known_answer_and_errors():
    """Linear f, a = w * (x - min x) with the 'black' (= min x) baseline: S(x) - S(x_S) = sum(a[S]), so 1."""
    net = linear_model()
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 1, 2, 0])
    w = net[1].weight.detach()[t].view(4, 1, 8, 8)
    a = w * (x - x.flatten(1).min(1).values.view(-1, 1, 1, 1))
    torch.testing.assert_close(fa.faithfulness_correlation(net, x, a, t, runs=20, subset=10), torch.ones(4))
    assert (fa.faithfulness_correlation(net, x, -a, t, runs=20, subset=10) < -0.99).all()
    with pytest.raises(ValueError, match="subset"):
        fa.faithfulness_correlation(net, x, a, t, subset=65)
    with pytest.raises(ValueError, match="runs"):
        fa.faithfulness_correlation(net, x, a, t, runs=1)


def test_max_sensitivity_known_answers(tiny_cnn):
    """A constant explainer gives 0; the identity 'map' x gives max_s ||d_s|| / ||x|| for the seeded draws."""
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert (fa.max_sensitivity(tiny_cnn, x, lambda m, x, t: torch.ones(len(x), 8, 8), samples=4) == 0).all()
    got = fa.max_sensitivity(tiny_cnn, x, lambda m, x, t: x[:, 0], samples=4, radius=0.1, seed=2)
    gen = torch.Generator().manual_seed(2)
    want = torch.stack([fa.uniform_noise(x.shape, 0.1, gen).flatten(1).norm(dim=1) for _ in range(4)]).amax(0)
    torch.testing.assert_close(got, (want / x.flatten(1).norm(dim=1)).float())
    with pytest.raises(ValueError, match="samples"):
        fa.max_sensitivity(tiny_cnn, x, InputGradient(), samples=0)


def test_random_logit_known_answers(tiny_cnn):
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    blind = fa.random_logit(tiny_cnn, x, lambda m, x, t: x[:, 0].sigmoid())  # ignores the class
    torch.testing.assert_close(blind, torch.ones(4, dtype=blind.dtype))
    assert fa.random_logit(tiny_cnn, x, InputGradient()).mean() < 0.99


@pytest.fixture
def quantus():
    q = pytest.importorskip("quantus")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield q


def conv_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3)).eval()


def test_sparseness_complexity_match_quantus(quantus):
    net, x, y = conv_model(), torch.randn(4, 1, 8, 8), np.array([0, 1, 2, 0])
    a = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) - 0.3
    for q, ours in ((quantus.Sparseness, fa.sparseness), (quantus.Complexity, fa.complexity)):
        theirs = q(disable_warnings=True)(model=net, x_batch=x.numpy(), y_batch=y, a_batch=a.numpy().copy(),
                                          device="cpu")
        np.testing.assert_allclose(ours(a).numpy(), theirs, atol=1e-6)


def test_faithfulness_correlation_matches_quantus(quantus, monkeypatch):
    """Quantus draws each run's subsets with np.random.choice and then (unused) 'uniform' baseline values: replay."""
    net, y = conv_model(), np.array([0, 1, 2, 0])
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    a = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2)) - 0.3
    np.random.seed(5)
    theirs = quantus.FaithfulnessCorrelation(nr_runs=20, subset_size=10, perturb_baseline="black",
                                             return_aggregate=False, disable_warnings=True)(
        model=net, x_batch=x.numpy(), y_batch=y, a_batch=a.numpy().copy(), device="cpu")
    np.random.seed(5)
    rows = []
    for _ in range(20):
        rows.append(np.stack([np.random.choice(64, 10, replace=False) for _ in range(4)]))
        np.random.uniform(size=4)
    monkeypatch.setattr(fa, "subsets", lambda runs, n, d, size, seed: torch.tensor(np.stack(rows)))
    np.testing.assert_allclose(fa.faithfulness_correlation(net, x, a, torch.tensor(y), runs=20, subset=10).numpy(),
                               theirs, atol=1e-5)


def test_max_sensitivity_matches_quantus(quantus, monkeypatch):
    net, y = conv_model(), np.array([0, 1, 2, 0])
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    method = GradCAM("0")

    def explain(model, inputs, targets, **kw):
        return method(net, torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(targets)).numpy()[:, None]

    np.random.seed(3)
    theirs = quantus.MaxSensitivity(nr_samples=5, lower_bound=0.2, return_nan_when_prediction_changes=False,
                                    disable_warnings=True)(model=net, x_batch=x.numpy(), y_batch=y,
                                                           a_batch=explain(net, x.numpy(), y), explain_func=explain,
                                                           device="cpu")
    np.random.seed(3)
    monkeypatch.setattr(fa, "uniform_noise", lambda shape, r, gen: torch.from_numpy(
        np.random.uniform(-r, r, size=(shape[0], math.prod(shape[1:])))).view(shape))
    np.testing.assert_allclose(fa.max_sensitivity(net, x, method, torch.tensor(y), samples=5).numpy(), theirs,
                               atol=1e-5)


def logit_setup():
    """A 2-conv net on 12x12 inputs with 5 classes, one target per image, and a Quantus explain_func per method."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 144, 5)).eval()
    x = torch.randn(6, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    return net, x, np.array([0, 1, 2, 3, 4, 0])


def quantus_random_logit(quantus, net, x, y, method, calls=None, **kw):
    def explain(model, inputs, targets, **_):
        if calls is not None:
            calls.append(np.asarray(targets).copy())
        return method(net, torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(targets)).numpy()[:, None]

    metric = quantus.RandomLogit(num_classes=5, seed=42, disable_warnings=True, **kw.pop("init", {}))
    return np.array(metric(model=net, x_batch=x.numpy(), y_batch=y, a_batch=explain(net, x.numpy(), y),
                           explain_func=explain, device="cpu", **kw))


@pytest.mark.parametrize("method", [GradCAM("2"), InputGradient()], ids=["gradcam", "input_gradient"])
def test_random_logit_matches_quantus_with_its_flat_ssim(quantus, method):
    """Same seed, same off-target classes; with Quantus's 1-D SSIM the scores agree (its batch-max normalisation
    of our [0, 1] maps moves them by < 1e-7 here)."""
    net, x, y = logit_setup()
    theirs = quantus_random_logit(quantus, net, x, y, method)
    ours = fa.random_logit(net, x, method, torch.tensor(y), seed=42, similarity=ssim_flat)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("method", [GradCAM("2"), InputGradient()], ids=["gradcam", "input_gradient"])
def test_random_logit_default_is_2d_ssim_and_differs_from_quantus(quantus, method):
    """Our default compares the maps as images; given that similarity Quantus agrees, its own default does not."""
    net, x, y = logit_setup()

    def as_images(a, b, batched=True):
        return [ssim(p.reshape(12, 12), r.reshape(12, 12)) for p, r in zip(a, b)]

    ours = fa.random_logit(net, x, method, torch.tensor(y), seed=42).numpy()
    np.testing.assert_allclose(ours, quantus_random_logit(quantus, net, x, y, method,
                                                          init={"similarity_func": as_images}), atol=1e-6, rtol=0)
    assert np.abs(ours - quantus_random_logit(quantus, net, x, y, method)).max() > 0.05  # 1-D vs 2-D SSIM


def test_random_logit_quantus_reuses_its_draws_per_batch(quantus):
    """Quantus reseeds np.random for every batch, so batches of 3 get the same off-class indices; ours draws once
    for all N, and the first batch's draws are the same as Quantus's."""
    net, x, y = logit_setup()
    calls, method = [], InputGradient()
    quantus_random_logit(quantus, net, x, y, method, calls=calls, batch_size=3)
    calls = calls[1:]  # the first call made a_batch
    idx = [c - (c > t) for c, t in zip(calls, (y[:3], y[3:]))]  # index among the other classes
    np.testing.assert_array_equal(idx[0], idx[1])
    seen = []
    fa.random_logit(net, x, lambda m, x, t: seen.append(t.clone()) or x[:, 0].sigmoid(), torch.tensor(y), seed=42)
    other = seen[1].numpy()
    assert (other != y).all()
    np.testing.assert_array_equal(other[:3], calls[0])
    assert not np.array_equal(other[3:] - (other[3:] > y[3:]), idx[1])


def test_metric_agreement_hand_computed():
    rows = [{"method": "A", "deletion_auc": 0.1, "insertion_auc": 0.9, "pointing": 0.0, "energy": 0.3, "rank": 1},
            {"method": "B", "deletion_auc": 0.2, "insertion_auc": 0.8, "pointing": 0.5, "energy": 0.1, "rank": 2},
            {"method": "C", "deletion_auc": 0.3, "insertion_auc": 0.7, "pointing": 1.0, "energy": 0.2, "rank": 3}]
    out = metric_agreement(rows)
    assert out["metrics"] == ["deletion_auc", "insertion_auc", "pointing", "energy"]
    m = np.array(out["matrix"])
    # deletion (lower better) and insertion agree: A > B > C; pointing says C > B > A; energy A > C > B
    assert m[0, 1] == pytest.approx(1.0) and m[0, 2] == pytest.approx(-1.0)
    assert m[0, 3] == pytest.approx(1 / 3)  # pairs (A,B), (A,C) concordant, (B,C) not: (2 - 1) / 3
    assert out["orders"]["deletion_auc"] == ["A", "B", "C"] and out["orders"]["pointing"] == ["C", "B", "A"]
    assert np.array(metric_agreement(rows, kind="spearman")["matrix"])[0, 3] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="two methods"):
        metric_agreement(rows[:1])
    with pytest.raises(ValueError, match="missing"):
        metric_agreement(rows, metrics=["seconds"])


def test_trust_metrics_table_feeds_metric_agreement(tiny_cnn, unchanged):
    from explorer.saliency.evaluation.trust import trust_metrics

    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    calls = []
    with unchanged(tiny_cnn):
        rows = trust_metrics(tiny_cnn, x, ["Grad-CAM", "Input gradient", "Occlusion"], runs=5, samples=2,
                             progress=lambda d, t, info: calls.append((d, t, info["method"])))
    assert [r["method"] for r in rows] == ["Grad-CAM", "Input gradient", "Occlusion"]
    assert calls[-1] == (3, 3, "Occlusion")
    for r in rows:
        assert set(r) == {"method", "faithfulness", "max_sensitivity", "sparseness", "complexity", "random_logit"}
        assert 0 <= r["sparseness"] <= 1 and 0 <= r["complexity"] <= math.log(64) + 1e-6
    out = metric_agreement(rows)
    assert len(out["matrix"]) == 5 and all(abs(v) <= 1 + 1e-9 for line in out["matrix"] for v in line
                                           if not math.isnan(v))
