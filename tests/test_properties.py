"""Property-based: every input to from_arrays and image_folder either loads exactly the images and labels that are
there or raises a clear error naming the cause; never a silently different dataset."""
import os
import re
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from explorer.data import from_arrays  # noqa: E402

# deterministic (the same examples every run, so CI cannot flake) and no example database written into the tree
FAST = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DTYPES = ["uint8", "float16", "float32", "float64", "int32", "int64", "bool"]
LABELS = ["ok", "gaps", "negative", "float_integral", "float_fraction", "nan", "inf", "strings", "bool",
          "short", "long", "2-D"]


@st.composite
def images(draw, what):
    """(array, expected (N, C, H, W) float32 images or None, problems, ambiguous): an array in one of the layouts
    (also 2-channel, 2-D and 5-D ones), of one of the dtypes, maybe with a NaN, an inf or a float32 overflow."""
    n = draw(st.sampled_from([3, 5, 9, 1, 2, 0]))  # each fault about one draw in six: most arrays are valid
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    c = draw(st.sampled_from([1, 3, 1, 3, 1, 2]))
    layout = draw(st.sampled_from(["NHW", "NCHW", "NHWC"] * 3 + ["ND", "NCHWX"]))
    dtype = draw(st.sampled_from(DTYPES[:4] * 3 + DTYPES[4:]))
    shape = {"NHW": (n, h, w), "NCHW": (n, c, h, w), "NHWC": (n, h, w, c), "ND": (n, h * w),
             "NCHWX": (n, c, h, w, 1)}[layout]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    scale = 255 if dtype in ("uint8", "int32", "int64") else 1.5 if dtype == "bool" else 2
    x = (rng.random(shape) * scale).astype(dtype)
    poison = draw(st.sampled_from([None] * 6 + ["nan", "inf", "huge"])) if dtype.startswith("float") and x.size \
        else None
    if poison:
        x.flat[draw(st.integers(0, x.size - 1))] = {"nan": np.nan, "inf": -np.inf,
                                                    "huge": 1e300 if dtype == "float64" else np.inf}[poison]
    # the documented rule, on the shape alone: (N, H, W); (N, C, H, W) when axis 1 is 1 or 3 (a warning when
    # axis 3 is too: the array could be either); else (N, H, W, C) when axis 3 is 1 or 3; anything else refused
    problems, read, ambiguous = [], None, False
    if x.ndim == 3:
        read = "NHW"
    elif x.ndim == 4 and x.shape[1] in (1, 3):
        read, ambiguous = "NCHW", x.shape[3] in (1, 3)
    elif x.ndim == 4 and x.shape[3] in (1, 3):
        read = "NHWC"
    else:
        problems.append(f"{what} must have shape")
    if n == 0:
        problems.append(f"{what} is empty")
    if dtype in ("int32", "int64", "bool"):
        problems.append(f"{what} have dtype")
    if poison in ("nan", "inf") or poison == "huge" and dtype != "float64":
        problems.append(f"NaN or infinite values in {what}")
    if poison == "huge" and dtype == "float64":
        problems.append(f"{what} overflow")
    expected = None
    if not problems:
        a = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
        expected = a[:, None] if read == "NHW" else a if read == "NCHW" else np.moveaxis(a, 3, 1)
    return x, expected, problems, ambiguous


@st.composite
def labels(draw, n, what):
    """(labels, expected int64 labels or None, problems): a plain label set or one with gaps, negatives, floats,
    NaN, inf, strings, bools, a wrong length or a second axis."""
    kind = draw(st.sampled_from(["ok"] * 8 + LABELS))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    base = rng.integers(0, 3, n)
    y = {"ok": base, "gaps": base * 3 + 1, "negative": base - 1, "float_integral": base.astype(np.float64),
         "float_fraction": base + 0.5, "nan": np.where(base == 0, np.nan, base),
         "inf": np.where(base == 0, np.inf, base),
         "strings": np.array(["cat", "dog", "emu"])[base], "bool": base.astype(bool), "short": base[:-1],
         "long": np.append(base, 1), "2-D": base[:, None]}[kind]
    has0 = bool((base == 0).any())
    problems = {"negative": [f"{what} out of range"] if has0 else [],
                "float_fraction": [f"{what} must be integer class indices"] if n else [],
                "nan": [f"{what} must be integer class indices"] if has0 else [],
                "inf": [f"{what} must be integer class indices"] if has0 else [],
                "strings": [f"{what} must be integer class indices"] if n else [],
                "short": [f"{what} must be a 1-D array of {n} labels"] if n else [],
                "long": [f"{what} must be a 1-D array of {n} labels"],
                "2-D": [f"{what} must be a 1-D array of {n} labels"]}.get(kind, [])
    return y, (None if problems else np.asarray(y).reshape(-1).astype(np.int64)), problems


@settings(FAST, max_examples=250)
@given(data=st.data(), held_out=st.booleans(), named=st.sampled_from([None, "right", "too few"]))
def test_from_arrays_loads_exactly_what_is_there_or_names_the_cause(data, held_out, named):
    x, want_x, problems, ambiguous = data.draw(images("x_train"))
    y, want_y, p = data.draw(labels(len(x), "y_train"))
    problems += p
    xt = yt = None
    if not held_out:
        xt, want_xt, p, amb = data.draw(images("x_test"))
        yt, want_yt, q = data.draw(labels(len(xt), "y_test"))
        problems, ambiguous = problems + p + q, ambiguous or amb
    ys = [(want_y, "y_train")] + ([] if held_out else [(want_yt, "y_test")])
    top = max((int(v.max()) for v, _ in ys if v is not None and len(v)), default=0)
    classes = None if named is None else [f"c{i}" for i in range(top + 1 if named == "right" else max(top, 1))]
    if named == "too few" and top >= 1:
        problems += ["y_train out of range", "y_test out of range"]
    for v, what in ys:
        if v is not None and len(v) and len(np.unique(v)) < 2:
            problems += [f"{what} has a single class", "split has a single class"]
    if not held_out and want_x is not None and want_xt is not None and want_x.shape[1:] != want_xt.shape[1:]:
        problems.append("x_test images are")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            s = from_arrays(x, y, xt, yt, classes=classes, test_fraction=0.5, seed=0)
        except (ValueError, TypeError) as err:
            msg = str(err)
            split_trouble = held_out and re.search("split|hold out", msg)  # a held-out split may lack a class
            assert problems or split_trouble, f"refused valid input: {msg}"
            assert split_trouble or any(p in msg for p in problems), f"{msg!r} names none of {problems}"
            return
    assert not problems, f"loaded although {problems}"
    if ambiguous:
        assert any("is read as (N, C, H, W)" in str(w.message) for w in caught), "an ambiguous layout must warn"
    # exactly the images and labels given: the same multiset of (image bytes, label) per split (both when held out)
    got = [(s.images(sp).numpy(), s.labels(sp).numpy()) for sp in ("train", "test")]
    key = lambda pairs: sorted((im.tobytes(), im.shape, int(lab)) for ims, labs in pairs for im, lab in zip(ims, labs))
    if held_out:
        assert key(got) == key([(want_x, want_y)])
    else:
        assert key([got[0]]) == key([(want_x, want_y)]) and key([got[1]]) == key([(want_xt, want_yt)])
    assert s.n_classes == (len(classes) if classes else top + 1)


# ------------------------------------------------------------------------------------------------- image folders

GREYS = [0, 51, 102, 153, 204, 255]
COLOURS = [(r, g, b) for r in GREYS for g in GREYS for b in GREYS if not r == g == b]  # web-safe: P keeps them


def _save(path, mode, colour, size):
    """A solid image in `mode` whose RGB reading is `colour`."""
    from PIL import Image

    if mode == "I;16":
        Image.fromarray(np.full(size[::-1], colour[0] * 257, np.uint16)).save(path)
    elif mode == "L":
        Image.new("L", size, colour[0]).save(path)
    elif mode == "RGBA":
        Image.new("RGBA", size, (*colour, 255)).save(path)
    elif mode == "P":
        Image.new("RGB", size, colour).convert("P").save(path)
    else:
        Image.new("RGB", size, colour).save(path, **({"quality": 100} if str(path).endswith(".jpg") else {}))


@st.composite
def folders(draw):
    """A plan of class folders with images (modes, sizes), nested folders, hidden entries, odd files and links."""
    n_classes = draw(st.integers(2, 3))
    names = draw(st.lists(st.sampled_from(["cat", "dog", "emu", "x.y", "with space", "ünï"]), min_size=n_classes,
                          max_size=n_classes, unique=True))
    plan = []
    for name in names:
        files = draw(st.lists(st.tuples(st.sampled_from(["RGB", "L", "RGBA", "P", "I;16"]),
                                        st.tuples(st.integers(1, 20), st.integers(1, 20)),
                                        st.sampled_from(["", "sub/"])), min_size=2, max_size=4))
        plan.append((name, files))
    extras = draw(st.lists(st.sampled_from(["hidden file", "hidden folder", "gif", "txt", "broken png", "empty png",
                                            "link to image", "loop", "link out", "link out file", "broken link",
                                            "root image", "empty class", "hidden class"]), max_size=5, unique=True))
    return plan, extras


@settings(FAST, max_examples=25)
@given(plan=folders())
def test_image_folder_loads_exactly_what_is_there(tmp_path_factory, plan):
    from PIL import Image

    from explorer.data import image_folder

    plan, extras = plan
    root, outside = tmp_path_factory.mktemp("folder"), tmp_path_factory.mktemp("outside")
    greys, colours, want, skipped = iter(GREYS), iter(COLOURS), [], set()
    for name, files in plan:
        for i, (mode, size, sub) in enumerate(files):
            grey = next(greys, None) if mode in ("L", "I;16") else None
            mode = mode if grey is not None else "RGB" if mode in ("L", "I;16") else mode  # six greys only
            colour = (grey,) * 3 if grey is not None else next(colours)
            os.makedirs(root / name / sub, exist_ok=True)
            _save(root / name / f"{sub}{i}.png", mode, colour, size)
            want.append((colour, name))
    first = root / plan[0][0]
    Image.new("RGB", (4, 4), (1, 2, 3)).save(outside / "far.png")
    for extra in extras:
        target = {"gif": first / "a.gif", "txt": first / "notes.txt", "broken png": first / "broken.png",
                  "empty png": first / "empty.png", "link to image": root / plan[1][0] / "alias.png",
                  "loop": first / "loop", "link out": first / "out", "link out file": first / "far.png",
                  "broken link": first / "gone.png", "root image": root / "stray.png",
                  "empty class": root / "zz-empty" / "a.gif"}.get(extra)
        if extra == "hidden file":
            _save(first / ".hidden.png", "RGB", (9, 9, 9), (3, 3))
        elif extra == "hidden folder":
            os.makedirs(first / ".ipynb_checkpoints")
            _save(first / ".ipynb_checkpoints" / "0-checkpoint.png", "RGB", (9, 9, 9), (3, 3))
        elif extra == "hidden class":
            os.makedirs(root / ".trash")
            _save(root / ".trash" / "0.png", "RGB", (9, 9, 9), (3, 3))
        elif extra == "gif":
            Image.new("RGB", (3, 3)).save(target)
        elif extra == "txt":
            target.write_text("not an image")
        elif extra == "broken png":
            target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
        elif extra == "empty png":
            target.write_bytes(b"")
        elif extra == "link to image":
            os.symlink(first / "0.png", target)
        elif extra == "loop":
            os.symlink("..", target)
        elif extra == "link out":
            os.symlink(outside, target)
        elif extra == "link out file":
            os.symlink(outside / "far.png", target)
        elif extra == "broken link":
            os.symlink(root / "nothing.png", target)
        elif extra == "root image":
            _save(target, "RGB", (9, 9, 9), (3, 3))
        elif extra == "empty class":
            os.makedirs(target.parent)
            Image.new("RGB", (3, 3)).save(target)
        if target is not None:
            skipped.add(str(target))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            s = image_folder(root, size=8, test_fraction=0.5, seed=0)
        except FileNotFoundError as err:
            assert "empty class" in extras, f"refused a folder with images in every class: {err}"
            assert re.search("class folder\\(s\\) zz-empty in .* have no readable images \\(zz-empty/a.gif", str(err))
            return
    assert "empty class" not in extras, "loaded a class folder with no images"
    got = []
    for split in ("train", "test"):
        x, y = s.images(split), s.labels(split)
        got += [(tuple((x[i, :, 4, 4] * 255).round().int().tolist()), s.classes[int(y[i])]) for i in range(len(y))]
    assert sorted(got) == sorted(want)  # every image, once, with its own folder's label
    assert s.classes == tuple(sorted(name for name, _ in plan))
    assert set(s.skipped) == skipped
    folder_warnings = [w for w in caught if "were not loaded" in str(w.message)]
    assert len(folder_warnings) == (1 if skipped else 0)
    assert s.duplicates == []
