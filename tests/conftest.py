"""Shared fixtures: tiny models with fixed weights (a CNN, a ViT), the digits data, a trained default session."""
from collections import OrderedDict

import pytest
import torch
from torch import nn


@pytest.fixture(scope="session")
def digits():
    """The embedded default dataset."""
    from explorer import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def trained_session(digits):
    """The default small CNN trained on digits for 15 epochs (seed 0) - about 2 s on the CPU.

    Shared and read-only: tests must not train or change it (use a copy).
    """
    from explorer import Session

    return Session.open(digits, "cnn", device="cpu", epochs=15, seed=0)


@pytest.fixture
def tiny_cnn():
    """A 2-conv CNN with in-place ReLUs and seeded weights, for 1x8x8 inputs and 3 classes."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)),
        ("conv2", nn.Conv2d(4, 6, 3, padding=1)), ("relu2", nn.ReLU(inplace=True)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(6, 3)),
    ])).eval()


@pytest.fixture(scope="session")
def tiny_vit():
    """A 2-block torchvision ViT on 32 px images (patch 4: an 8 x 8 grid after the class token), seeded (the global
    RNG untouched), its head drawn at random (torchvision zeros it), eval. Shared and read-only."""
    VisionTransformer = pytest.importorskip("torchvision.models.vision_transformer").VisionTransformer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vit = VisionTransformer(image_size=32, patch_size=4, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                                num_classes=10)
        nn.init.normal_(vit.heads.head.weight, std=0.5)
    return vit.eval()


@pytest.fixture(scope="session")
def vit_tokens():
    """pytorch-grad-cam's reshape_transform for tiny_vit: the class token dropped, (N, 65, C) -> (N, C, 8, 8)."""
    return lambda t: t[:, 1:, :].reshape(t.size(0), 8, 8, t.size(2)).permute(0, 3, 1, 2)


def model_fingerprint(model: nn.Module) -> tuple:
    """Everything a call must leave as it was: weights, buffers, every module's mode, in-place flag and hooks."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = tuple((m.training, getattr(m, "inplace", None)) for m in model.modules())
    hooks = tuple((len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                   len(getattr(m, "_backward_pre_hooks", {}))) for m in model.modules())
    grads = tuple(p.grad is None for p in model.parameters())
    return state, modes, hooks, grads


def assert_unchanged(model: nn.Module, before: tuple) -> None:
    """Assert weights (bit for bit), modes, hooks and .grad are as in `before` (from model_fingerprint)."""
    state, modes, hooks, grads = model_fingerprint(model)
    for k, v in before[0].items():
        assert torch.equal(state[k], v), f"{k} changed"
    assert modes == before[1], "a module's training mode or in-place flag changed"
    assert hooks == before[2], "hooks were left on the model"
    assert grads == before[3], "parameter .grad was filled"


@pytest.fixture
def unchanged():
    """unchanged(model) -> a context manager asserting the model is the same after the block."""
    import contextlib

    @contextlib.contextmanager
    def check(model):
        before = model_fingerprint(model)
        yield
        assert_unchanged(model, before)
    return check


@pytest.fixture
def largest_tensor():
    """largest_tensor() -> a context manager whose value's .bytes is the largest tensor any torch op made in the
    block: deterministic, unlike RSS, and it sees torch's allocations, which tracemalloc does not."""
    import contextlib

    from torch.utils._python_dispatch import TorchDispatchMode

    class Largest(TorchDispatchMode):
        bytes = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    self.bytes = max(self.bytes, t.numel() * t.element_size())
            return out

    @contextlib.contextmanager
    def watch():
        with Largest() as mode:
            yield mode
    return watch


@pytest.fixture
def kernel(monkeypatch):
    """Make the panels believe a kernel's event loop runs (as in JupyterLab): jobs then run on threads."""
    import types

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))


def need(name):
    """The module; skipped where it is not installed, except in CI, where the test extras install it."""
    import importlib
    import os

    if os.environ.get("CI") == "true":
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(scope="session")
def client():
    """One Dask LocalCluster of 2 worker processes for the whole run (the sweep and the whole-dataset tests)."""
    dask, distributed = need("dask"), need("distributed")
    # no retries of a task whose worker died, so the kill tests fail at once rather than after 3 restarts
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None)
        c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="session")
def ray():
    """One local Ray instance (2 CPUs) for the whole run."""
    import os

    ray = need("ray")
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    except Exception as err:  # a loaded machine: Ray waits only 30 s for its raylet
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"a local Ray instance did not start here: {err}")
    yield ray
    ray.shutdown()
