"""The weights token: a cheap value that changes with every change of a model's weights, seen or not by autograd."""
from __future__ import annotations

import ctypes

import torch
from torch import nn

_word = ctypes.c_uint64.from_address  # reads 8 bytes of a CPU tensor's memory without a torch op (~1 us)


def _words(t: torch.Tensor, ptr: int, nbytes: int) -> tuple:
    """Three elements of t (first, middle, last) through torch, for tensors not dense in CPU memory (one small copy)."""
    flat = t.detach().flatten()
    return tuple(flat[[0, len(flat) // 2, -1]].cpu().tolist()) if len(flat) else ()


def weights_token(model: nn.Module) -> tuple:
    """What the model's results depend on, as a hashable token.

    It sees the module tree and modes (a swapped sub-module, train/eval), each parameter's and buffer's version
    counter, storage, shape and dtype (optimiser steps, `load_state_dict` also with assign=True,
    `vector_to_parameters`), and a sampled checksum of the values for writes no counter sees (`p.data.mul_(-1)`):
    the first, middle and last 8 bytes of each tensor. A write through `.data` to a few elements between those is
    not seen. Under a millisecond for resnet18 (`python benchmarks/bench_token.py`): it walks the modules' own
    parameter dicts (three times faster than `parameters()` and `buffers()`) and reads CPU memory with ctypes
    (a torch op per tensor would cost 3 us each).
    """
    parts: list = [id(model)]
    add = parts.append
    for module in model.modules():
        add(id(module))
        add(module.training)
        for group in (module._parameters, module._buffers):
            for t in group.values():
                if t is None:
                    continue
                ptr, nbytes = t.data_ptr(), t.nbytes
                add(t._version)
                add(ptr)  # a CPU and a GPU address never name the same live tensor: no device needed
                add(t.shape)
                add(t.dtype)
                if nbytes < 8 or ptr == 0:
                    continue
                if t.is_cpu and (t.is_contiguous() or t.dim() == 4 and
                                 t.is_contiguous(memory_format=torch.channels_last)):
                    # dense: its nbytes lie in one run of memory from the data pointer, so these reads are safe
                    add(_word(ptr).value)
                    add(_word(ptr + (nbytes // 2) // 8 * 8).value)
                    add(_word(ptr + nbytes - 8).value)
                else:
                    add(_words(t, ptr, nbytes))
    return tuple(parts)
