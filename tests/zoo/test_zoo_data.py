"""Image folders as people have them: mixed sizes and modes (grey, RGBA, palette, 16-bit, JPEG), resized and
centre-cropped to the model's size, a display photo kept beside the input, unreadable files skipped and named."""
import numpy as np
import pytest
import torch

from explorer.data import image_folder, read_image, to_uint8


def halves(w, h, left, right, mode="RGB"):
    """A w x h PIL image: left half one colour, right half another."""
    from PIL import Image

    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2], a[:, w // 2:] = left, right
    return Image.fromarray(a, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(a, "RGB")


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    halves(40, 20, (255, 0, 0), (0, 0, 255)).save(tmp_path / "cats" / "wide.png")       # 2:1, RGB
    halves(13, 31, (0, 255, 0), (0, 255, 0)).save(tmp_path / "cats" / "tall.jpg", quality=95)
    Image.new("L", (17, 17), 100).save(tmp_path / "cats" / "grey.png")
    Image.new("RGBA", (30, 24), (255, 0, 0, 0)).save(tmp_path / "dogs" / "clear.png")  # transparent: white
    Image.fromarray(np.full((9, 12), 257 * 100, np.uint16)).save(tmp_path / "dogs" / "deep.png")  # 16-bit grey
    Image.new("RGB", (64, 48), (10, 20, 30)).convert("P").save(tmp_path / "dogs" / "palette.png")
    return tmp_path


def test_mixed_sizes_and_modes_become_rgb_crops(folder):
    s = image_folder(folder, size=8, test_fraction=0.5, seed=0)
    assert s.shape == (3, 8, 8) and s.classes == ("cats", "dogs")
    assert len(s.labels("train")) + len(s.labels("test")) == 6
    grey = torch.from_numpy(read_image(folder / "cats" / "grey.png", 8)).float()
    assert torch.all(grey == 100)  # L -> RGB, all three channels
    assert torch.all(torch.from_numpy(read_image(folder / "dogs" / "clear.png", 8)) == 255)  # alpha on white
    assert torch.all(torch.from_numpy(read_image(folder / "dogs" / "deep.png", 8)) == 100)  # 16 bit scaled
    wide = read_image(folder / "cats" / "wide.png", 8)  # 40 x 20 -> 16 x 8 -> centre 8 x 8: 4 red, 4 blue columns
    assert wide.shape == (8, 8, 3) and (wide[:, :3] == (255, 0, 0)).all() and (wide[:, -3:] == (0, 0, 255)).all()
    assert read_image(folder / "cats" / "tall.jpg", 8).shape == (8, 8, 3)


def test_display_photos_sit_beside_the_inputs(folder):
    s = image_folder(folder, size=8, display_size=32, test_fraction=0.5, seed=0)
    for split in ("train", "test"):
        shown = s.display(split)
        assert shown.dtype == np.uint8 and shown.shape == (len(s.labels(split)), 32, 32, 3)
        # the same crop at 4x the size: block means of the photo are the model's image
        down = torch.nn.functional.avg_pool2d(torch.from_numpy(shown).permute(0, 3, 1, 2).float(), 4)
        assert (down / 255 - s.images(split)).abs().amax() < 0.1
    plain = image_folder(folder, size=8, test_fraction=0.5, seed=0)
    assert np.array_equal(plain.display("test"), to_uint8(plain.images("test")))
    assert torch.equal(plain.images("test"), s.images("test"))  # the display size does not change the inputs


def test_weights_transforms_and_limits(folder):
    pytest.importorskip("torchvision")
    from PIL import Image

    from explorer.models import pretrained_preset

    preset = pretrained_preset("resnet18")  # metadata only: nothing is downloaded
    s = image_folder(folder, weights="resnet18", limit=2, test_fraction=0.5, seed=0)
    assert s.shape == (3, 224, 224) and s.mean == preset["mean"] and s.std == preset["std"]
    assert sorted(torch.cat([s.labels("train"), s.labels("test")]).tolist()) == [0, 0, 1, 1]
    # one image through our reader and normalisation equals the weights' own transforms() on the PIL image
    path = folder / "cats" / "tall.jpg"
    ours = s.normalize(torch.from_numpy(read_image(path, 224, preset["resize"])).permute(2, 0, 1).float() / 255)
    with Image.open(path) as im:
        want = preset["transforms"](im.convert("RGB"))
    assert torch.allclose(ours, want, atol=1e-5)
    with pytest.raises(ValueError, match="mean and std need 3"):
        image_folder(folder, size=8, mean=(0.5,), std=(0.5,))


def test_unreadable_files_are_named(folder):
    from explorer.data.folders import FolderWarning

    (folder / "dogs" / "broken.png").write_bytes(b"not a png at all")
    jpg = (folder / "cats" / "tall.jpg").read_bytes()
    (folder / "dogs" / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])  # truncated
    with pytest.warns(FolderWarning, match=r"2 files .* not loaded \(dogs/broken\.png: not an image .*dogs/cut\.jpg"):
        s = image_folder(folder, size=8)  # skipped and named (the whole load failed on the first before)
    assert len(s.labels("train")) + len(s.labels("test")) == 6
    assert sorted(s.skipped) == [str(folder / "dogs" / "broken.png"), str(folder / "dogs" / "cut.jpg")]
    with pytest.raises(ValueError, match=r"cannot read image .*cut\.jpg"):
        read_image(folder / "dogs" / "cut.jpg", 8)
    with pytest.raises(FileNotFoundError, match="class sub-folders"):
        image_folder(folder / "cats")  # images, but no class folders
