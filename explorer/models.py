"""Models: MLP, a small CNN, torchvision classifiers by name (checkpoints: explorer.checkpoints)."""
from __future__ import annotations

import difflib
import math
from collections import OrderedDict

import torch
from torch import nn

from .checkpoints import load_checkpoint, save_checkpoint  # noqa: F401 - kept importable from here


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


def model_name(model: nn.Module) -> str:
    """The architecture's class name, of the torchvision model inside a grey-to-RGB wrapper too ('ResNet')."""
    inner = getattr(model, "net", None) if isinstance(getattr(model, "to_rgb", None), ToRGB) else None
    return type(inner if inner is not None else model).__name__


def torchvision_names() -> list[str]:
    """Names of torchvision's image classifiers (resnet18, vgg11, mobilenet_v3_small, ...)."""
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _replace_head(model: nn.Module, n_classes: int) -> None:
    """Swap the last Linear layer for one with n_classes outputs."""
    name, last = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], nn.Linear(last.in_features, n_classes))


def _weights(name: str, weights="DEFAULT"):
    """A torchvision weights entry (an enum member: its meta, transforms and URL; nothing is downloaded)."""
    import torchvision.models as tvm

    try:
        return tvm.get_weight(weights) if isinstance(weights, str) and "." in weights else \
            getattr(tvm.get_model_weights(name), weights) if isinstance(weights, str) else weights
    except (AttributeError, KeyError, ValueError) as err:
        raise KeyError(f"no weights {weights!r} for torchvision model {name!r}: {err}") from err


def pretrained_preset(name: str, weights="DEFAULT") -> dict:
    """What pretrained weights expect, read offline from their metadata: size (crop), resize, mean, std, classes
    and the weights' own transforms(). Names: torchvision ('resnet18', 'vit_b_16', ...) or 'timm:NAME'."""
    if name.startswith("timm:"):
        timm = _timm()
        model = timm.create_model(name[5:], pretrained=False)
        cfg = timm.data.resolve_data_config({}, model=model)
        size = cfg["input_size"][-1]
        if model.num_classes == 1000:
            info = timm.data.ImageNetInfo()
            classes = tuple(info.index_to_description(i) for i in range(1000))
        else:
            classes = tuple(map(str, range(model.num_classes)))
        return {"size": size, "resize": int(size / cfg["crop_pct"]) if cfg.get("crop_pct") else size,
                "mean": tuple(cfg["mean"]), "std": tuple(cfg["std"]), "classes": classes,
                "transforms": timm.data.create_transform(**cfg)}
    w = _weights(name, weights)
    t = w.transforms()
    crop = t.crop_size[0] if isinstance(t.crop_size, (list, tuple)) else t.crop_size
    resize = t.resize_size[0] if isinstance(t.resize_size, (list, tuple)) else t.resize_size
    return {"size": int(crop), "resize": int(resize), "mean": tuple(t.mean), "std": tuple(t.std),
            "classes": tuple(w.meta["categories"]), "transforms": t}


def _timm():
    """timm, an optional peer: a clear error when it is not installed."""
    try:
        import timm
        import timm.data  # noqa: F401
    except ImportError as err:
        raise ImportError("timm models need timm: pip install timm") from err
    return timm


def _init_zero_head(model: nn.Module) -> None:
    """torchvision's ViT initialises its classifier to zero (for fine-tuning): every gradient, hence every map and
    code, of the random model would be zero. Draw it as its other linear layers are (truncated normal, std 0.02)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    if not last.weight.detach().any():
        nn.init.trunc_normal_(last.weight, std=0.02)


def torchvision_model(name: str, n_classes: int = 10, in_channels: int = 3, pretrained: bool = False,
                      image_size: int | None = None, **kwargs) -> nn.Module:
    """A torchvision classifier by name; random weights unless pretrained=True (which downloads).

    image_size sizes a random-init ViT for other images than 224 x 224 (a multiple of its patch size).
    """
    import torchvision.models as tvm

    names = torchvision_names()
    if name not in names:
        near = difflib.get_close_matches(name, names, n=3)
        raise KeyError(f"unknown torchvision model {name!r}" + (f"; did you mean {', '.join(near)}?" if near else "")
                       + f"; choose one of {', '.join(names)}")
    if pretrained:
        try:
            model = tvm.get_model(name, weights="DEFAULT", **kwargs)
        except (OSError, RuntimeError) as err:  # URLError is an OSError
            raise ConnectionError(f"could not download pretrained weights for {name}: {err}. There seems to be no "
                                  f"network; use pretrained=False (random weights) or place the file in "
                                  f"{torch.hub.get_dir()}/checkpoints") from err
        if n_classes != len(_weights(name).meta["categories"]):
            _replace_head(model, n_classes)
    else:
        if name.startswith("vit_") and image_size is not None:
            kwargs["image_size"] = image_size
        try:
            model = tvm.get_model(name, weights=None, num_classes=n_classes, **kwargs)
        except AssertionError as err:  # torchvision's ViT asserts its sizes
            raise ValueError(f"{name} cannot be built for images of size {image_size}: {err}") from err
        _init_zero_head(model)
    if in_channels == 1:
        model = nn.Sequential(OrderedDict([("to_rgb", ToRGB()), ("net", model)]))
    return model


def timm_model(name: str, n_classes: int = 10, in_channels: int = 3, pretrained: bool = False, **kwargs) -> nn.Module:
    """A timm model by name (timm is optional); random weights unless pretrained=True (which downloads)."""
    timm = _timm()
    if not timm.is_model(name):
        near = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise KeyError(f"unknown timm model {name!r}" + (f"; did you mean {', '.join(near)}?" if near else ""))
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=n_classes, in_chans=in_channels, **kwargs)
    except (OSError, RuntimeError) as err:
        if not pretrained:
            raise
        raise ConnectionError(f"could not download pretrained weights for timm model {name}: {err}. There seems "
                              f"to be no network; use pretrained=False (random weights)") from err


BUILTIN = {"cnn": SmallCNN, "mlp": MLP}


def build_model(name: str = "cnn", data=None, seed: int = 0, **kwargs) -> nn.Module:
    """A model sized for `data` (an ImageSet), with weights drawn from `seed` (the global RNG is untouched).

    Names: 'cnn' (SmallCNN), 'mlp' (MLP; width=, depth=), any torchvision classifier ('resnet18', 'vit_b_16',
    'swin_t', ...) or a timm model ('timm:NAME', or a name only timm has, when timm is installed). Pretrained
    weights (pretrained=True) keep their own classes when no data is given; see pretrained_preset().
    """
    c, h, w = data.shape if data is not None else (3 if kwargs.get("pretrained") else 1, 8, 8)
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
        if data is None and kwargs.get("pretrained"):
            n_classes = len(pretrained_preset(name)["classes"])
        if name in names:
            if name.startswith("vit_") and data is not None and not kwargs.get("pretrained"):
                kwargs.setdefault("image_size", h if h == w else None)
            return torchvision_model(name, n_classes=n_classes, in_channels=c, **kwargs)
        if name.startswith("timm:"):
            return timm_model(name[5:], n_classes=n_classes, in_channels=c, **kwargs)
        try:
            if _timm().is_model(name):
                return timm_model(name, n_classes=n_classes, in_channels=c, **kwargs)
        except ImportError:
            pass
        near = difflib.get_close_matches(name, list(BUILTIN) + names, n=3)
        raise KeyError(f"unknown model {name!r}" + (f" (did you mean {', '.join(near)}?)" if near else "")
                       + f"; choose 'cnn', 'mlp' or a torchvision classifier such as resnet18 "
                       f"({len(names)} available: explorer.models.torchvision_names()), a timm model as "
                       f"'timm:NAME' (if timm is installed), or pass your own nn.Module")
