"""FullGrad: input-gradient and bias-gradient terms of every conv and BatchNorm layer, summed."""
import torch
from torch import nn

from ...capture import capture
from .base import CAM, normalize, resolve_targets, upsample
from .layers import as_maps
from .util import record_inputs, run_model


def bias_of(m: nn.Module) -> torch.Tensor:
    """A layer's effective bias (C,): a conv's own; a BatchNorm's beta - mu gamma / sqrt(var + eps) (eval mode)."""
    if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None:
        return m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)
    return m.bias


def norm_channels(t):  # (N, C, h, w) -> each (n, c) map min-max normalised, eps 1e-7
    lo, hi = t.flatten(2).aminmax(dim=2)
    return (t - lo[..., None, None]) / (hi - lo + 1e-7)[..., None, None]


class FullGrad(CAM):
    """FullGrad (Srinivas and Fleuret 2019), as pytorch-grad-cam: sum_c norm|x dS/dx|_c + sum over layers of type
    Conv2d or BatchNorm2d with a bias of sum_c resize(norm|b dS/dz|_c), then min-max; no ReLU. The layer choice is
    ignored. Each layer's channels are summed before the (linear) resize: the peer's result, one resize per layer.
    A 1 x 1 map (a squeeze-excitation block's convolutions) normalises to 0 per channel, as in the peer: its term
    is a constant after upsampling, so such layers are taken, not refused."""
    name = "FullGrad"
    family = "CAM"
    needs_layer = False
    takes_1x1 = True

    def __init__(self):
        self.layers = None

    def layer_names(self, model, x=None):
        kinds = (nn.Conv2d, nn.BatchNorm2d)  # exactly these types, as the peer
        names = [n for n, m in model.named_modules() if type(m) in kinds and m.bias is not None]
        if not names:
            raise ValueError(f"FullGrad needs Conv2d or BatchNorm2d layers with a bias; {type(model).__name__} has"
                             " none")
        return names

    def _inputs(self, model, names):
        return {"input": model}

    def _run(self, model, x, mods, names):  # the graph from the input: FullGrad needs dS/dx too
        with torch.enable_grad(), as_maps(mods, x.shape[-2:], capture(model, names, keep_graph=True)) as rec, \
                record_inputs(self._inputs(model, names)) as ins:
            logits = run_model(model, x.requires_grad_(True))
        return logits, rec, ins

    def explain(self, fw, targets="predicted", labels=None, raw=False):
        t, names, mods = resolve_targets(targets, fw.logits, labels), list(fw.acts), dict(fw.model.named_modules())
        x = fw.inputs["input"]
        gx, *gs = self.grads(fw, t, [x] + [fw.acts[n] for n in names])
        with torch.no_grad():
            total = norm_channels((x.detach() * gx).abs()).sum(1)  # (N, H, W)
            for n, g in zip(names, gs, strict=True):
                if g is not None:  # None: the layer is not on the path to the logits
                    b = bias_of(mods[n]).detach()[:, None, None]
                    total = total + upsample(norm_channels((b * g).abs()).sum(1), total.shape[-2:])
            return total if raw else normalize(total)
