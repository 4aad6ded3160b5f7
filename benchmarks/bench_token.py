"""The weights token's cost per call (issue 21: under a millisecond on resnet18), against the version-only token it
replaced (which missed `.data` writes, `vector_to_parameters`, `assign=True` loads and swapped sub-modules).

    python benchmarks/bench_token.py
"""
import os
import time

import torch
import torchvision

from explorer.weights import weights_token


def old_token(model):
    """The token before issue 21: version counters only."""
    return (id(model), model.training, tuple(t._version for t in model.parameters()),
            tuple(t._version for t in model.buffers()))


def best_ms(fn, calls: int = 200, rounds: int = 15) -> float:
    """The fastest round's mean per call, in ms (the least disturbed by other work on the machine)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e3)
    return best


def main() -> None:
    torch.manual_seed(0)
    models = {"resnet18": torchvision.models.resnet18(weights=None).eval(),
              "resnet18 channels-last": torchvision.models.resnet18(weights=None).eval().to(
                  memory_format=torch.channels_last),
              "vit_b_16": torchvision.models.vit_b_16(weights=None).eval()}
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':<24}{'tensors':>8}{'token ms':>10}{'old ms':>8}")
    for name, m in models.items():
        n = len([*m.parameters(), *m.buffers()])
        new, old = best_ms(lambda m=m: weights_token(m)), best_ms(lambda m=m: old_token(m))
        print(f"{name:<24}{n:>8}{new:>10.3f}{old:>8.3f}")


if __name__ == "__main__":
    main()
