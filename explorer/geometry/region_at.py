"""The linear region holding one point of a plane: its activation code, its affine map, the inputs that share it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..codes.extract import activation_codes
from ..data import model_dtype
from ..device import model_device
from ..layers import relu_layers
from .linear import local_map
from .plane import Plane


@dataclass(eq=False)
class Region:
    """One region at a plane point: its code, its affine map (in input space and on the plane), its members."""

    bits: np.ndarray  # (n_bits,) 0/1
    weight: np.ndarray  # (K, *shape): W_x
    bias: np.ndarray  # (K,): b_x
    plane_weight: np.ndarray  # (K, 2): logits = plane_weight @ (u, v) + plane_bias inside the region
    plane_bias: np.ndarray  # (K,)
    members: np.ndarray  # indices of the given inputs (training set) whose code is this one
    exact: bool


def region_at(model: nn.Module, plane: Plane, u: float, v: float, layers=None, inputs: torch.Tensor | None = None,
              input_codes=None, linearise: bool = False) -> Region:
    """The region holding plane point (u, v): its code (explorer.codes), affine map, and which inputs share it.

    inputs: the inputs to search (e.g. session.data.inputs('train')); input_codes: their Codes, if known.
    """
    layers = tuple(relu_layers(model, layers))
    x = plane.points([u], [v]).to(model_device(model), model_dtype(model))
    code = activation_codes(model, x, layers)
    m = local_map(model, x, linearise=linearise)
    k = m.bias.shape[1]
    w = m.weight.reshape(k, -1)
    basis = plane.basis.flatten(1).double().cpu().numpy()
    origin = plane.origin.flatten().double().cpu().numpy()
    members = np.zeros(0, int)
    if inputs is not None or input_codes is not None:
        codes = input_codes if input_codes is not None else activation_codes(model, inputs, layers)
        if codes.n_bits != code.n_bits:
            raise ValueError(f"input_codes have {codes.n_bits} bits, the region's code {code.n_bits}: other layers?")
        members = np.flatnonzero((codes.packed == code.packed[0]).all(1))
    return Region(code.bits()[0], m.weight[0], m.bias[0], w @ basis.T, w @ origin + m.bias[0], members, m.exact)
