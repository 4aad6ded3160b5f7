"""ShapleyCAM: Grad-CAM's weights with a second-order (Hessian-vector) correction."""
import contextlib

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ...capture import capture
from .base import CAM
from .layers import as_maps
from .util import grad_from, run_model

OUTPUT = "#output"  # fw.inputs key suffix: a layer's output in its own layout (ViT: all tokens)


@contextlib.contextmanager
def record_outputs(modules: dict):
    """Record each module's output, graph kept, in its own layout: {name + OUTPUT: tensor}; hooks removed on exit."""
    seen, handles = {}, []
    try:
        for name, m in modules.items():
            handles.append(m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name + OUTPUT,
                                                                                                     out)))
        yield seen
    finally:
        for h in handles:
            h.remove()


class TwiceDifferentiable(TorchFunctionMode):
    """Hardsigmoid as relu6(x + 3) / 6, the same function: PyTorch has no double backward for its own kernel
    (MobileNetV3's squeeze-excitation gates), where pytorch-grad-cam's ShapleyCAM raises."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.hardsigmoid and not kwargs.get("inplace", args[1] if len(args) > 1 else False):
            return F.relu6(args[0] + 3) / 6
        return func(*args, **kwargs)


class ShapleyCAM(CAM):
    """ShapleyCAM (Cai 2025; pytorch-grad-cam): w_k = mean_ij (g - H A / 2)_kij, H the Hessian of the target score
    with respect to the layer's activations A: the Shapley value of the channels under a second-order expansion.

    Where the layers after are piecewise linear (ReLU, max-pool, BatchNorm in eval mode, Linear) H A is 0 and the map
    is Grad-CAM's; Hardswish, GELU, LayerNorm and attention give a correction. The Hessian-vector product comes
    from a double backward through the kept forward graph (no parameter .grad filled); Hardsigmoid runs as
    relu6(x + 3) / 6 and attention by its math kernel, so layers before MobileNetV3's squeeze-excitation blocks and
    transformer blocks work (the peer raises on both).
    """
    name = "ShapleyCAM"
    family = "CAM"

    def forward_key(self, model, x=None):  # its own forward (TwiceDifferentiable): not shared with other CAMs
        return (*super().forward_key(model, x), TwiceDifferentiable)

    def _run(self, model, x, mods, names):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        # attention by its math kernel: the CPU's flash kernel has no double backward either
        # the outputs in their own layout, recorded after grad_from's hook and before as_maps' reshape: H A takes
        # A whole (a ViT's class token too, as the peer's formula), the map reads the patch tokens of H A
        with TwiceDifferentiable(), sdpa_kernel([SDPBackend.MATH]), grad_from(mods), record_outputs(mods) as outs, \
                as_maps(mods, x.shape[-2:], capture(model, names, keep_graph=True)) as rec:
            logits = run_model(model, x)
        return logits, rec, outs

    def grads(self, fw, t, wrt):  # -> per layer g - H A / 2 (N, C, h, w)
        whole = [fw.inputs[n + OUTPUT] for n in fw.acts]  # each layer's output in its own layout
        with torch.enable_grad():
            score = fw.logits.gather(1, t[:, None]).sum()
            gs = torch.autograd.grad(score, wrt + whole, retain_graph=True, create_graph=True, allow_unused=True)
            out = []
            for a, g, full, g_full in zip(wrt, gs[:len(wrt)], whole, gs[len(wrt):], strict=True):
                if g is None:
                    out.append(None)
                    continue
                hvp = None
                if g_full is not None and g_full.requires_grad:  # else the score is linear in A: H = 0
                    # (H A) read at the map's positions: d/dA_map of g(A) . A with A whole, held fixed
                    (hvp,) = torch.autograd.grad((g_full * full.detach()).sum(), a, retain_graph=True,
                                                 allow_unused=True)
                out.append(g.detach() if hvp is None else g.detach() - 0.5 * hvp)
        return out

    def weights(self, acts, grads):  # (N, C, h, w) -> (N, C)
        return grads.mean(dim=(2, 3))
