"""apply_layer: a Conv or Linear layer with other weights, through torch.nn.functional, equals the module itself."""
import pytest
import torch
from torch import nn

from explorer.layers import apply_layer

CASES = [
    (nn.Conv1d, dict(padding=2, stride=2, dilation=2)),
    (nn.Conv2d, dict(padding=1)),
    (nn.Conv2d, dict(padding=(2, 1), stride=(1, 2), groups=2)),
    (nn.Conv2d, dict(padding="same", dilation=(1, 2))),
    (nn.Conv2d, dict(padding="valid")),
    (nn.Conv3d, dict(padding=1, bias=False)),
]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("cls,kw", CASES)
def test_apply_layer_is_the_modules_own_forward(cls, kw, mode):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    m = cls(4, 6, 3, padding_mode=mode, **kw)
    x = torch.randn(2, 4, *(9,) * (len(m.kernel_size)), generator=gen)
    w, b = torch.randn(m.weight.shape, generator=gen), (None if m.bias is None else torch.randn(6, generator=gen))
    with torch.no_grad():
        ref = torch.func.functional_call(m, {"weight": w, **({"bias": b} if b is not None else {})}, (x,))
    assert torch.equal(apply_layer(m, x, w, b), ref)


def test_apply_layer_linear_and_refusal():
    m = nn.Linear(3, 2)
    x, w, b = torch.randn(4, 3), torch.randn(2, 3), torch.randn(2)
    assert torch.equal(apply_layer(m, x, w, b), x @ w.T + b)
    with pytest.raises(TypeError, match="Linear or Conv1d/2d/3d layer; got ConvTranspose2d"):
        apply_layer(nn.ConvTranspose2d(2, 2, 3), torch.randn(1, 2, 4, 4), torch.randn(2, 2, 3, 3), None)


def test_resolve_by_path_and_a_second_name():
    """Names are looked up by their path (get_submodule), so a module registered twice resolves under both names
    (named_modules() lists it once); errors still name the valid choices."""
    from explorer.layers import relu_layers, resolve

    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 3)))
    m.act = m[1]  # the same ReLU under a second name
    assert resolve(m, ["2.0", "1"]) == {"2.0": m[2][0], "1": m[1]}
    assert resolve(m, "act")["act"] is m[1]  # old: KeyError (not in named_modules())
    assert relu_layers(m, ["act", "1"]) == ["1", "act"]
    with pytest.raises(KeyError, match="no layer named '2.1'.*valid choices: 0, 1, 2.0"):
        resolve(m, "2.1")
    with pytest.raises(KeyError, match="'0' is a Linear, not a relu layer"):
        resolve(m, "0", kind="relu")
