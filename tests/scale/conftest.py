"""Whole-dataset jobs' shared inputs: a small seeded CNN for 8x8 digits and 96 of the digits' test images."""
import pytest
import torch

from explorer.data import from_arrays

N = 96


@pytest.fixture(scope="session")
def small_set(digits):
    """96 digits test images as an ImageSet (its first split), with the digits' normalisation."""
    x, y = digits.images("test")[:N], digits.labels("test")[:N]
    return from_arrays(x, y, x, y, classes=digits.classes, name="digits-96", mean=digits.mean, std=digits.std)


@pytest.fixture(scope="session")
def small_cnn():
    """SmallCNN (width 8) on 1x8x8 digits, seeded weights, eval mode."""
    from explorer.models import SmallCNN

    torch.manual_seed(0)
    return SmallCNN(1, 10, width=8).eval()
