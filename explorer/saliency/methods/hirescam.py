"""HiResCAM: the element-wise product of gradient and activation, summed over channels."""
import torch

from .base import CAM

# Higham and Mary (2019): a float sum of C terms is off by at most lambda * sqrt(C) * u * sum|terms| (u = eps / 2)
# with probability >= 1 - 2 exp(-lambda^2 / 2); lambda = 8: 1 - 3e-14. A map whose |sum| is below that is rounding.
LAMBDA = 8.0


def cancelled(terms: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N,): maps whose channel sums cancel to float rounding: sum_hw |sum_c t| is below
    LAMBDA * sqrt(C) * eps / 2 of sum_hw sum_c |t|. Where a layer reaches the logits only through a LayerNorm (a ViT
    block before the last), the score is unchanged by scaling a token, so sum_c g_c A_c = 0 up to LayerNorm's eps
    (1e-6 of var): vit_b_16's encoder_layer_10 gives 1.2e-8 of the magnitudes (bound 1.3e-5 at C = 768, float32);
    real maps on resnet18, VGG-11-BN, MobileNetV3 and other ViT blocks are 7e-3 to 0.15 (seeded random weights)."""
    c, eps = terms.shape[1], torch.finfo(terms.dtype).eps
    size = terms.abs().sum(dim=(1, 2, 3))
    return (size > 0) & (terms.sum(1).abs().sum(dim=(1, 2)) <= LAMBDA * c ** 0.5 * eps / 2 * size)


class HiResCAM(CAM):
    """HiResCAM (Draelos and Carin 2020): ReLU(sum_k g_k * A_k); equals Grad-CAM when the layer feeds GAP + Linear.

    A map whose channel sum cancels to float rounding (a ViT block output that reaches the logits only through a
    LayerNorm) is blank, with a note saying so: the peer normalises that rounding noise into a map."""
    name = "HiResCAM"
    family = "CAM"

    def combine(self, fw, name, acts, grads):  # (N, C, h, w) x2 -> (N, h, w)
        terms = grads * acts
        out = terms.sum(1)
        bad = cancelled(terms)
        if bad.any():
            out[bad] = 0
            which = f"image(s) {', '.join(map(str, bad.nonzero().flatten().tolist()))}" if len(out) > 1 else \
                "this image"
            self.note(f"at {name}, the sum over {acts.shape[1]} channels cancels to float rounding for {which}: the "
                      f"score does not change when a location's activation vector is scaled (it reaches the logits "
                      f"only through a LayerNorm, as in a ViT block), so the map would be rounding noise and is left "
                      f"blank. Grad-CAM at this layer, or HiResCAM at a LayerNorm's output (ln_1, a ViT's default "
                      f"layer), show a real map.")
        return out
