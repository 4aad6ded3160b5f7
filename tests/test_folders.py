"""Image folders load exactly the images that are there: no link out of the root or followed twice, no hidden
entries, skipped files named, train/test copies found, decompression bombs named."""
import os
import struct
import zlib

import numpy as np
import pytest

from explorer.data import image_folder, read_image
from explorer.data.folders import FolderWarning


def _colours(s):
    """The multiset of (colour of the image's centre pixel, class name) over both splits."""
    out = []
    for split in ("train", "test"):
        x, y = s.images(split), s.labels(split)
        out += [(tuple((x[i, :, 4, 4] * 255).round().int().tolist()), s.classes[int(y[i])]) for i in range(len(y))]
    return sorted(out)


def _write(folder, n, cls, base):
    """n solid 10x10 PNGs in folder/cls, colours (base, i * 20, 0), so each image says where it came from."""
    from PIL import Image

    os.makedirs(folder / cls, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (10, 10), (base, i * 20, 0)).save(folder / cls / f"{i}.png")
    return [((base, i * 20, 0), cls) for i in range(n)]


def test_loop_link_hidden_folder_and_gif(tmp_path):
    from PIL import Image

    want = _write(tmp_path, 4, "cat", 200) + _write(tmp_path, 4, "dog", 50)
    os.symlink("..", tmp_path / "cat" / "loop")  # 8 images became 328, dogs labelled cat
    os.makedirs(tmp_path / ".ipynb_checkpoints")  # a third class before
    Image.new("RGB", (10, 10)).save(tmp_path / ".ipynb_checkpoints" / "x.png")
    Image.new("RGB", (10, 10)).save(tmp_path / "dog" / ".hidden.png")
    Image.new("RGB", (10, 10)).save(tmp_path / "dog" / "moving.gif")  # skipped without a word before
    with pytest.warns(FolderWarning, match=r"2 files or folders .* not loaded \(cat/loop: a link to the image "
                                           r"folder itself \(a loop\), already read; "
                                           r"dog/moving\.gif: unsupported format \.gif"):
        s = image_folder(tmp_path, size=8, test_fraction=0.5)
    assert s.classes == ("cat", "dog") and _colours(s) == sorted(want)
    assert set(s.skipped) == {str(tmp_path / "cat" / "loop"), str(tmp_path / "dog" / "moving.gif")}
    assert s.duplicates == []


def test_links_out_of_the_root_are_not_followed_and_inside_ones_once(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    want = _write(root, 3, "cat", 200) + _write(root, 3, "dog", 50)
    _write(outside, 2, "cat", 100)
    os.symlink(outside / "cat", root / "cat" / "more")  # a folder outside: not followed
    os.symlink(outside / "cat" / "0.png", root / "dog" / "far.png")  # a file outside: not followed
    os.symlink(root / "cat" / "0.png", root / "dog" / "alias.png")  # inside, read already as cat/0.png
    extra = _write(root / ".store", 2, "kept", 150)  # reached only through a link: followed, once
    os.symlink(root / ".store" / "kept", root / "cat" / "stored")
    os.symlink(root / ".store" / "kept", root / "cat" / "stored-again")
    os.symlink(root / "nothing", root / "dog" / "broken.png")
    with pytest.warns(FolderWarning, match="5 files or folders"):
        s = image_folder(root, size=8, test_fraction=0.5)
    assert _colours(s) == sorted(want + [(c, "cat") for c, _ in extra])
    assert "a link out of" in s.skipped[str(root / "cat" / "more")]
    assert "a link out of" in s.skipped[str(root / "dog" / "far.png")]
    assert s.skipped[str(root / "dog" / "alias.png")] == "a link to cat/0.png, already read"
    assert "already read" in s.skipped[str(root / "cat" / "stored-again")]
    assert s.skipped[str(root / "dog" / "broken.png")] == "a broken link"
    os.symlink(outside / "cat", root / "linked")  # a class folder outside the root: a class with no images
    with pytest.raises(FileNotFoundError, match="class folder\\(s\\) linked in .* have no readable images "
                                                "\\(linked: a link out of"):
        image_folder(root, size=8)


def test_same_bytes_in_train_and_test(tmp_path):
    import shutil

    _write(tmp_path, 4, "cat", 200), _write(tmp_path, 4, "dog", 50)
    for i in range(4):
        shutil.copy(tmp_path / "cat" / f"{i}.png", tmp_path / "cat" / f"copy{i}.png")
    with pytest.warns(FolderWarning, match=r"test images of .* have the same bytes as train images .*"
                                           r"duplicates='drop'"):
        s = image_folder(tmp_path, size=8, test_fraction=0.5, seed=0)
    assert len(s.labels("train")) + len(s.labels("test")) == 12 and s.duplicates
    for a, b in s.duplicates:
        assert open(a, "rb").read() == open(b, "rb").read() and a != b
    with pytest.warns(FolderWarning, match="4 files"):
        d = image_folder(tmp_path, size=8, test_fraction=0.5, seed=0, duplicates="drop")
    assert len(d.labels("train")) + len(d.labels("test")) == 8 and d.duplicates == []
    assert d.skipped[str(tmp_path / "cat" / "copy0.png")] == "the same bytes as cat/0.png (duplicates='drop')"
    shutil.copy(tmp_path / "cat" / "1.png", tmp_path / "dog" / "odd.png")
    with pytest.raises(ValueError, match="cat/1.png \\(cat\\) and .*dog/odd.png \\(dog\\) have the same bytes"):
        image_folder(tmp_path, size=8, duplicates="drop")
    with pytest.raises(ValueError, match="duplicates must be 'warn'"):
        image_folder(tmp_path, size=8, duplicates="yes")


def _png_header_and_zeros(path, width, height):
    """A real greyscale PNG of width x height zeros, compressed as it streams (a few hundred kB, little memory)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z, row, parts = zlib.compressobj(9), b"\0" * (width + 1), []  # each row: filter byte 0, then the pixels
    for _ in range(height):
        parts.append(z.compress(row))
    parts.append(z.flush())
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_named(tmp_path):
    _write(tmp_path, 3, "cat", 200), _write(tmp_path, 3, "dog", 50)
    _png_header_and_zeros(tmp_path / "dog" / "huge.png", 15000, 15000)  # 225 Mpixels: PIL's bomb error
    with pytest.raises(ValueError, match=r"dog/huge\.png is too large to decode safely .*MAX_IMAGE_PIXELS"):
        image_folder(tmp_path, size=8)  # PIL's DecompressionBombError, no file named, before
    with pytest.raises(ValueError, match=r"huge\.png is too large"):
        read_image(tmp_path / "dog" / "huge.png", 8)


def test_every_read_image_error_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read image .*missing.png"):
        read_image(tmp_path / "missing.png", 8)
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(ValueError, match="cannot read image .*a.png"):
        read_image(tmp_path / "a.png", 8)


def test_a_class_with_nothing_readable_and_bad_arguments(tmp_path):
    from PIL import Image

    _write(tmp_path, 3, "cat", 200)
    os.makedirs(tmp_path / "gifs")
    Image.new("RGB", (10, 10)).save(tmp_path / "gifs" / "a.gif")
    with pytest.raises(FileNotFoundError, match="class folder\\(s\\) gifs .* no readable images \\(gifs/a.gif: "
                                                "unsupported format"):
        image_folder(tmp_path, size=8)
    for limit in (0, -1, 2.5):
        with pytest.raises(ValueError, match="limit must be None or an integer >= 1"):
            image_folder(tmp_path, size=8, limit=limit)
    assert np.asarray(read_image(tmp_path / "cat" / "0.png", 4)).shape == (4, 4, 3)
