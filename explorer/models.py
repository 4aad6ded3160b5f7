"""Models: MLP, a small CNN, torchvision classifiers by name, checkpoints."""
from __future__ import annotations

import difflib
import math
from collections import OrderedDict

import torch
from torch import nn


def MLP(in_shape, width: int = 100, depth: int = 1, n_classes: int = 10, batchnorm: bool = False) -> nn.Sequential:
    """Flatten, then `depth` blocks of Linear(width) [-> BatchNorm] -> ReLU, then a linear read-out.

    `width` is the number of units of each hidden layer (fc1, relu1, fc2, relu2, ..., out).
    """
    if width < 1 or depth < 1:
        raise ValueError(f"MLP needs width >= 1 and depth >= 1; got width={width}, depth={depth}")
    n_in = math.prod(in_shape) if not isinstance(in_shape, int) else in_shape
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    for i in range(1, depth + 1):
        layers.append((f"fc{i}", nn.Linear(n_in if i == 1 else width, width)))
        if batchnorm:
            layers.append((f"bn{i}", nn.BatchNorm1d(width)))
        layers.append((f"relu{i}", nn.ReLU()))
    layers.append(("out", nn.Linear(width, n_classes)))
    return nn.Sequential(OrderedDict(layers))


def SmallCNN(in_channels: int = 1, n_classes: int = 10, width: int = 16) -> nn.Sequential:
    """Three 3x3 conv -> ReLU stages (one 2x2 max-pool), global average pooling, a linear classifier.

    The last conv feeds global pooling and the linear layer, so Grad-CAM there equals CAM.
    """
    w = width
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, w, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)),
        ("conv2", nn.Conv2d(w, 2 * w, 3, padding=1)), ("relu2", nn.ReLU(inplace=True)),
        ("pool", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(2 * w, 4 * w, 3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
        ("fc", nn.Linear(4 * w, n_classes)),
    ]))


class ToRGB(nn.Module):
    """Repeat a single grey channel three times, so RGB architectures take grey images."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def torchvision_names() -> list[str]:
    """Names of torchvision's image classifiers (resnet18, vgg11, mobilenet_v3_small, ...)."""
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _replace_head(model: nn.Module, n_classes: int) -> None:
    """Swap the last Linear layer for one with n_classes outputs."""
    name, last = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], nn.Linear(last.in_features, n_classes))


def torchvision_model(name: str, n_classes: int = 10, in_channels: int = 3, pretrained: bool = False) -> nn.Module:
    """A torchvision classifier by name; random weights unless pretrained=True (which downloads)."""
    import torchvision.models as tvm

    names = torchvision_names()
    if name not in names:
        near = difflib.get_close_matches(name, names, n=3)
        raise KeyError(f"unknown torchvision model {name!r}" + (f"; did you mean {', '.join(near)}?" if near else "")
                       + f"; choose one of {', '.join(names)}")
    if pretrained:
        try:
            model = tvm.get_model(name, weights="DEFAULT")
        except (OSError, RuntimeError) as err:  # URLError is an OSError
            raise ConnectionError(f"could not download pretrained weights for {name}: {err}. There seems to be no "
                                  f"network; use pretrained=False (random weights) or place the file in "
                                  f"{torch.hub.get_dir()}/checkpoints") from err
        if n_classes != 1000:
            _replace_head(model, n_classes)
    else:
        model = tvm.get_model(name, weights=None, num_classes=n_classes)
    if in_channels == 1:
        model = nn.Sequential(OrderedDict([("to_rgb", ToRGB()), ("net", model)]))
    return model


BUILTIN = {"cnn": SmallCNN, "mlp": MLP}


def build_model(name: str = "cnn", data=None, seed: int = 0, **kwargs) -> nn.Module:
    """A model sized for `data` (an ImageSet), with weights drawn from `seed` (the global RNG is untouched).

    Names: 'cnn' (SmallCNN), 'mlp' (MLP; width=, depth=), or any torchvision classifier ('resnet18', ...).
    """
    c, h, w = data.shape if data is not None else (1, 8, 8)
    n_classes = data.n_classes if data is not None else 10
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "cnn":
            return SmallCNN(in_channels=c, n_classes=n_classes, **kwargs)
        if name == "mlp":
            return MLP((c, h, w), n_classes=n_classes, **kwargs)
        try:
            names = torchvision_names()
        except ImportError:
            names = []
        if name in names:
            return torchvision_model(name, n_classes=n_classes, in_channels=c, **kwargs)
        near = difflib.get_close_matches(name, list(BUILTIN) + names, n=3)
        raise KeyError(f"unknown model {name!r}" + (f" (did you mean {', '.join(near)}?)" if near else "")
                       + f"; choose 'cnn', 'mlp' or a torchvision classifier such as resnet18 "
                       f"({len(names)} available: explorer.models.torchvision_names()), or pass your own nn.Module")


def save_checkpoint(model: nn.Module, path, **meta) -> None:
    """Save the state dict (on the CPU) and plain metadata to `path`."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, path)


def load_checkpoint(model: nn.Module, path) -> dict:
    """Load weights saved by save_checkpoint (or a bare state dict) into model; returns the metadata.

    Uses torch.load(weights_only=True): a checkpoint cannot run code.
    """
    from .train import check_archive

    check_archive(path)  # torch.load does not check the zip CRCs: flipped bytes would load silently
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"{path} is not a weights-only checkpoint that explorer can read: {err}") from err
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    missing, unexpected = [], []
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad:
        raise ValueError(f"checkpoint {path} does not fit this model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shape {bad[:5]}")
    model.load_state_dict(state)
    return blob.get("meta", {}) if "state_dict" in blob else {}
