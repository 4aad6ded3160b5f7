"""Memory stays flat over 100 repeated calls: no graph, activation or hook outlives a call (pytorch-grad-cam #132)."""
import gc
import warnings

import pytest
import torch

from explorer.saliency import METHODS, Explainer, KeptForwards, make_method


def live_tensors() -> int:
    """Tensors reachable by the garbage collector (activations and graphs kept by mistake show up here)."""
    gc.collect()
    with warnings.catch_warnings():  # isinstance() on some of torch's deprecated objects warns
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


@pytest.mark.parametrize("name", list(METHODS))
def test_flat_over_100_calls(tiny_cnn, unchanged, name):
    layer = "conv2" if METHODS[name].needs_layer else None
    method = make_method(name, layer, **({"samples": 2} if "Smooth" in name else {}),
                         **({"steps": 4} if name == "Integrated gradients" else {}))
    kept = KeptForwards(size=2)
    ex = Explainer(tiny_cnn, method, kept)
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(2, 1, 8, 8, generator=gen) for _ in range(3)]
    with unchanged(tiny_cnn):
        for i in range(5):  # warm-up: caches reach their bound
            method(tiny_cnn, xs[i % 3], targets=i % 3)
            ex(xs[i % 3], targets=[i % 3, 0])
        before = live_tensors()
        for i in range(100):  # new images and classes: one-shot calls and the caching explainer
            method(tiny_cnn, xs[i % 3], targets=i % 3)
            ex(xs[i % 3], targets=[i % 3, 0])
        after = live_tensors()
    assert after <= before, f"{after - before} tensors more after 100 calls"
    if torch.cuda.is_available():  # on a GPU, allocated memory must be flat too
        model = tiny_cnn.cuda()
        x = xs[0].cuda()
        method(model, x)
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        for i in range(100):
            method(model, x, targets=i % 3)
        torch.cuda.synchronize()
        assert torch.cuda.memory_allocated() <= start
        tiny_cnn.cpu()
