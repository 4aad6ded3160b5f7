"""Score-CAM: channel weights from the class score of the input masked by each upsampled activation map."""
import torch
import torch.nn.functional as F

from ...capture import eval_mode
from .base import CAM, as_channels_last
from .batching import fitting_batch
from .fold import folded
from .util import run_model


def check_batch_size(batch_size) -> int:
    """A positive integer batch size, or a clear ValueError."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    return batch_size


class ScoreCAM(CAM):
    """Score-CAM (Wang et al. 2020): w = softmax_k S_c(x * M_k), M_k = A_k upsampled and min-max normalised.

    As pytorch-grad-cam: bilinear upsampling with align_corners=True, eps 1e-8, raw logits; the paper's baseline
    score is a per-image constant, which the softmax drops. Masked inputs run at most batch_size at a time on the
    device (on the CPU fewer: as many as keep a pass's widest activation in the last-level cache, `batching`),
    through a copy of the model with BatchNorm folded into the convolutions (`fold.folded`: exact in eval mode).
    """
    name = "Score-CAM"
    family = "CAM"

    def __init__(self, layers=None, batch_size: int = 64):
        self.layers = layers
        self.batch_size = batch_size

    def grads(self, fw, t, wrt):  # gradient-free: the gradient slot carries the channel weights (N, C)
        bs = check_batch_size(self.batch_size)
        return [self.scores(fw, a.detach(), t, bs).softmax(1) for a in wrt]

    def weights(self, acts, grads):
        return grads

    @torch.no_grad()
    def scores(self, fw, acts, t, bs):  # -> (N, C) target scores of the masked inputs
        n, c = acts.shape[:2]
        m = F.interpolate(acts, size=fw.x.shape[-2:], mode="bilinear", align_corners=True).flatten(0, 1)  # (N C, H, W)
        lo, hi = m.flatten(1).aminmax(dim=1)
        m = (m - lo[:, None, None]) / (hi - lo + 1e-8)[:, None, None]
        x, img = fw.x.detach(), torch.arange(n, device=acts.device).repeat_interleave(c)
        # a constant upsampled map (a channel ReLU zeroed everywhere) normalises to exactly 0: its masked input is
        # the zero image whatever the image, so one pass serves all of them, not one pass each as in the peer
        flat = hi == lo
        out = torch.empty(n * c, device=acts.device, dtype=acts.dtype)
        model = folded(fw.model)  # exact in eval mode, and the masked passes are most of Score-CAM's time
        with eval_mode(model):
            bs = fitting_batch(model, x[:1], bs)  # on the CPU, passes whose activations stay in cache are faster
            if flat.any():
                out[flat] = self._logits(model, torch.zeros_like(x[:1]))[0, t[img[flat]]].to(out.dtype)
            rest = (~flat).nonzero()[:, 0]
            for i in range(0, len(rest), bs):
                r = rest[i:i + bs]
                rows = x[img[r]] * m[r, None]  # (b, C_in, H, W); channels-last is safe: softmax
                out[r] = self._logits(model, rows).gather(1, t[img[r], None])[:, 0].to(out.dtype)
        return out.view(n, c)

    @staticmethod
    def _logits(model, rows):
        """The model's logits on a batch, channels-last on the CPU (plain for a model that .view()s activations)."""
        try:
            return run_model(model, as_channels_last(model, rows))
        except (RuntimeError, ValueError) as err:
            if "view size" not in str(err):
                raise
            return run_model(model, rows.contiguous())
