"""Datasets: the embedded default, block-digits' masks, user arrays, torchvision folders, clear errors."""
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.data import block_digits, from_arrays, image_folder, load_dataset, to_uint8, torchvision_set

MNIST_SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-subset"


def test_digits_is_the_bundled_default(digits):
    assert digits.shape == (1, 8, 8) and digits.n_classes == 10
    assert len(digits.labels("train")) + len(digits.labels("test")) == 1797
    assert len(digits.labels("test")) == 450
    assert digits.images("train").min() >= 0 and digits.images("train").max() <= 1
    # normalisation: the train split has mean 0, std 1 as the model sees it, and denormalize inverts it
    x = digits.inputs("train")
    assert abs(x.mean().item()) < 1e-5 and abs(x.std().item() - 1) < 1e-3
    assert torch.allclose(digits.denormalize(x), digits.images("train"), atol=1e-6)
    # stratified split: every class in both splits
    assert set(digits.labels("test").tolist()) == set(range(10))


def test_digits_upsampling_and_seeded_split():
    a, b = load_dataset("digits", upsample=2, seed=1), load_dataset("digits", upsample=2, seed=1)
    assert a.shape == (1, 16, 16)
    assert torch.equal(a.labels("test"), b.labels("test"))
    assert not torch.equal(load_dataset("digits", seed=2).labels("test"), load_dataset("digits").labels("test"))
    with pytest.raises(ValueError, match="positive integer"):
        load_dataset("digits", upsample=0)


def test_block_digits_mask_marks_the_digit(digits):
    bd = block_digits()
    assert bd.shape == (1, 16, 8)
    x, m = bd.images("test"), bd.masks["test"]
    assert m.shape == (len(x), 16, 8) and m.sum(dim=(1, 2)).eq(64).all()
    # the masked block is exactly the digit; the other block is the same null patch in every image
    signal = x[:, 0][m].view(-1, 8, 8)
    assert torch.allclose(signal, digits.images("test")[:, 0])
    null = x[:, 0][~m].view(-1, 8, 8)
    assert torch.equal(null, null[:1].expand_as(null))
    top = m[:, 0, 0]
    assert 0.3 < top.float().mean() < 0.7, "the order must be random"
    assert torch.equal(bd.labels("test"), digits.labels("test"))


def test_from_arrays_layouts_and_errors():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, size=(40, 6, 6, 3)).astype(np.uint8)
    s = from_arrays(hwc, np.arange(40) % 4, classes=list("abcd"))
    assert s.shape == (3, 6, 6) and s.classes == ("a", "b", "c", "d")
    assert s.images("train").max() <= 1 and len(s.labels("train")) + len(s.labels("test")) == 40
    assert to_uint8(s.images("test")).shape == (len(s.labels("test")), 6, 6, 3)
    with pytest.raises(ValueError, match=r"shape \(N, H, W\).*got \(40, 6\)"):
        from_arrays(np.zeros((40, 6)), np.zeros(40))
    with pytest.raises(ValueError, match="out of range.*valid labels are 0..3"):
        from_arrays(hwc, np.arange(40) % 5, classes=list("abcd"))
    with pytest.raises(ValueError, match="1-D array of 40 labels"):
        from_arrays(hwc, np.zeros(39))
    bad = hwc.astype(float)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        from_arrays(bad, np.arange(40) % 4)
    with pytest.raises(ValueError, match="x_test images are"):
        from_arrays(hwc, np.arange(40) % 4, np.zeros((5, 7, 7)), np.zeros(5))


def test_unknown_dataset_names_the_choices():
    with pytest.raises(KeyError, match="did you mean 'mnist'.*digits, block-digits, mnist, fashion-mnist, cifar10"):
        load_dataset("minst")


def test_missing_torchvision_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        torchvision_set("mnist", root=tmp_path)


def test_download_without_network_is_a_clear_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(ConnectionError, match="no network"):
        torchvision_set("fashion-mnist", root=tmp_path, download=True)


@pytest.mark.skipif(not MNIST_SUBSET.exists(), reason="the shared MNIST subset is not beside this checkout")
def test_reads_a_torchvision_folder_as_is():
    s = torchvision_set("mnist", root=MNIST_SUBSET)
    assert s.shape == (1, 28, 28) and len(s.labels("train")) == 1836 and len(s.labels("test")) == 812
    assert s.classes[0].startswith("0")


def test_image_folder(tmp_path):
    from PIL import Image

    for c, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        os.makedirs(tmp_path / c)
        for i in range(5):
            Image.new("RGB", (20, 10), colour).save(tmp_path / c / f"{i}.png")
    with pytest.warns(UserWarning, match="test images of .* have the same bytes as train images"):
        s = image_folder(tmp_path, size=8)  # five copies of one image per class: some land in both splits
    assert s.shape == (3, 8, 8) and s.classes == ("blue", "red") and s.duplicates
    x, y = s.images("train"), s.labels("train")
    assert torch.all(x[y == 1][:, 0] == 1) and torch.all(x[y == 0][:, 2] == 1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_folder(tmp_path / "nope")


def test_shapes_folder_modes_and_formats(tmp_path):
    from PIL import Image

    from explorer.data import shapes_folder

    def written(root):
        return sorted((p.parent.name, p.name, Image.open(p).mode) for p in root.rglob("*.*"))

    root = shapes_folder(tmp_path / "a", per_class=4, seed=0, modes=("L", "RGBA", "RGB"), formats=("jpg",))
    want = [("L", "jpg"), ("RGBA", "png"), ("RGB", "jpg"), ("L", "jpg")]  # cycled; an RGBA photo is PNG
    assert written(root) == sorted((c, f"{i}.{kind}", mode) for c in ("circle", "square")
                                   for i, (mode, kind) in enumerate(want))
    assert Image.open(root / "circle" / "1.png").getchannel("A").getextrema() == (200, 200)  # translucent
    default = shapes_folder(tmp_path / "b", per_class=4, seed=0)  # a quarter grey, half JPEG
    assert [m for c, _, m in written(default) if c == "circle"] == ["L", "RGB", "RGB", "RGB"]
    assert [n for c, n, _ in written(default) if c == "circle"] == ["0.png", "1.jpg", "2.png", "3.jpg"]
    for bad in ({"modes": ("CMYK",)}, {"modes": "L"}, {"formats": ()}, {"formats": ("gif",)}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            shapes_folder(tmp_path / "c", per_class=1, **bad)
    data = image_folder(root, size=16, test_fraction=0.25, seed=0)  # every mode reads back as RGB
    assert data.shape == (3, 16, 16) and data.classes == ("circle", "square")


def test_pixel_ranges():
    x = np.full((10, 4, 4), 128, dtype=np.uint8)
    assert torch.allclose(from_arrays(x, np.arange(10) % 2).images("train"), torch.tensor(128 / 255))
    # floats are used as they are (no guessing a /255), other integer dtypes are refused
    assert torch.equal(from_arrays(np.full((10, 4, 4), 300.0), np.arange(10) % 2).inputs("train"),
                       torch.full((8, 1, 4, 4), 300.0))
    with pytest.raises(ValueError, match="dtype torch.int64: pass uint8"):
        from_arrays(np.full((10, 4, 4), 3), np.arange(10) % 2)


def test_each_source_declares_options_its_loader_takes():
    import inspect

    from explorer.data import DATASETS, SOURCES, source_options

    assert list(DATASETS) == list(SOURCES) == ["digits", "block-digits", "mnist", "fashion-mnist", "cifar10"]
    for name, source in SOURCES.items():
        params = inspect.signature(source.load).parameters
        assert set(source.options) <= set(params), f"{name} declares options its loader does not take"
        assert DATASETS[name] is source.load
    assert source_options("mnist") == ("root", "download", "limit") and "root" not in source_options("digits")
    with pytest.raises(KeyError, match="did you mean 'digits'"):
        source_options("digit")


def test_the_app_offers_what_a_source_declares(monkeypatch):
    """The tour shows the folder and download choices by the source's options, not a hard-coded list of sets."""
    pytest.importorskip("ipywidgets")
    from explorer.app import Tour
    from explorer.data import sources

    seen = []

    def mine(root=None, upsample=1):
        seen.append(root)
        return sources.digits(upsample=upsample)

    monkeypatch.setitem(sources.SOURCES, "mine", sources.Source(mine, ("root",)))
    monkeypatch.setitem(sources.DATASETS, "mine", mine)
    t = Tour(dataset="mine", epochs=0, device="cpu")
    assert t.root.layout.display == "" and t.download.layout.display == "none"
    t.root.value, t.download.value = " /some/folder ", True
    assert t._open().data.name == "digits" and seen == ["/some/folder"]  # root passed, download not offered
    t.dataset.value = "digits"
    assert t.root.layout.display == t.download.layout.display == "none"
    t.dataset.value = "cifar10"
    assert t.root.layout.display == t.download.layout.display == ""
