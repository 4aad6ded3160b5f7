"""Tour.use on your own torchvision model and image folder: every lab tab builds, and its main action draws."""
import time

import numpy as np
import pytest

pytest.importorskip("jupyter_bokeh")
pytest.importorskip("torchvision")

SIZE, SHOWN = 64, 96  # the model's input, and the photos the overlays are drawn on


@pytest.fixture(scope="module")
def user_session(tmp_path_factory):
    """A torchvision ResNet-18 (seeded random weights) trained an epoch on a generated image folder at 64 x 64
    (the training calibrates BatchNorm and keeps 2 checkpoints), with 96 x 96 display photos."""
    from explorer import Session, image_folder
    from explorer.data import shapes_folder

    # every photo its own size; grey, translucent (composited on white) and colour photos, PNG and JPEG
    root = shapes_folder(tmp_path_factory.mktemp("photos") / "shapes", per_class=20, seed=0,
                         modes=("L", "RGBA", "RGB", "RGB"))
    data = image_folder(root, size=SIZE, display_size=SHOWN, test_fraction=0.25, seed=0)
    session = Session.open(data, "resnet18", device="cpu", seed=0)
    session.train(epochs=1, batch_size=8, lr=1e-3, seed=0)
    return session


def test_tour_use_on_a_resnet_and_an_image_folder(user_session, unchanged):
    from explorer.app import LABS, Tour, load_panel

    s = user_session
    assert s.data.shape == (3, SIZE, SIZE) and s.data.display("test").shape[1:] == (SHOWN, SHOWN, 3)
    t = Tour(device="cpu")
    t.use(s)
    assert t.error.value == "" and "ResNet" in t.status.value and "test accuracy" in t.status.value
    panels, took = {}, {}
    with unchanged(s.model):
        for i, title in enumerate(LABS):
            start = time.perf_counter()
            t.tabs.selected_index = i
            assert t.error.value == "", (title, t.error.value)
            panel = t.tabs.children[i].children[0]
            assert isinstance(panel, load_panel(LABS[title])) and panel.session is s
            assert panel.error.value == "", (title, panel.error.value)
            panels[title] = panel
            took[title] = time.perf_counter() - start
    print("tabs built (s):", {k: round(v, 2) for k, v in took.items()})

    g = panels["Gallery"]
    assert len(g.grid.children) == len(s.data.labels("test")) and "test accuracy" in g.summary.value
    assert _png_size(g.grid.children[0].children[0].value) == (SHOWN, SHOWN)  # the photo, not the 64-pixel input

    sal = panels["Saliency"]
    assert sal.maps.layer.value == "layer4"  # the last spatial map on the path to the logits, a block output
    assert "layer4.1.conv2" in sal.maps.layer.options
    first = bytes(sal.maps.image.value)
    assert first.startswith(b"\x89PNG") and sal.compare.png().startswith(b"\x89PNG")
    assert _png_size(first) == (2 * SHOWN, 2 * SHOWN), "the overlay is drawn on the photo, not the 64 x 64 input"
    assert _png_size(sal.strip.cells[0].children[0].value) == (48, 48)  # photos shrunk to thumbnails
    with unchanged(s.model):
        sal.maps.alpha.value = 0.8
        sal.maps.method.value = "Input gradient"
        sal.maps.index.value = 3
        sal.ranking.eval_n.value = 4
        sal.ranking.evaluate()
    assert sal.error.value == "", sal.error.value
    assert len(sal.ranking.rows_) == 3 and "<table" in sal.ranking.table.value and bytes(sal.maps.image.value) != first

    codes = panels["Neural codes"]
    assert codes.choice.layer.value == "layer4.1.relu"  # the whole network's code is 188 k bits: the head's by default
    assert "4096 bits" in codes.maps.metrics.value and len(codes.maps.source.data["x"]) == len(s.data.labels("test"))
    assert codes.maps.source.data["image"][0].startswith("data:image/png;base64,")
    with unchanged(s.model):
        codes.choice.layer.value = "layer3.1.relu"  # a module called twice: two parts of its code
        codes.maps.source.selected.indices = [0, 1, 2]
        codes.tables.categorize()
        codes.phase.compute()
    assert codes.error.value == "" and codes.phase.error.value == "", codes.error.value + codes.phase.error.value
    assert "3 selected" in codes.selected.selection.value and "Hungarian" in codes.tables.categorization.value
    assert codes.phase.result is not None

    land = panels["Loss landscape"]
    with unchanged(s.model):
        land.slices.span.value, land.slices.resolution.value = 0.5, 7
        land.slices.recompute()
        land.live.alpha.value = 0.2
    assert land.error.value == "", land.error.value
    surface = land.slices.surface_
    assert surface is not None and np.isfinite(surface.loss).all() and "loss" in land.live.readout.value

    geo = panels["Geometry"]
    with unchanged(s.model):
        geo.linear.recompute()
        geo.regions.resolution.value, geo.regions.zoom.value = 50, 1.0  # one grid: auto searches up to five
        geo.regions.layer.value = "layer4.1.relu"
        geo.regions.recompute()
        a = geo.regions.regions_.anchors[0]
        geo.regions.select(float(a[0]), float(a[1]))
        geo.similarity.recompute()
        geo.collapse.recompute()
        geo.features.show_top()
        geo.features.steps = 8
        geo.features.maximise()
    assert geo.error.value == "", geo.error.value
    assert geo.linear.templates.value[:4] == b"\x89PNG" and "regions</b>" in geo.regions.summary.value
    assert "code:" in geo.regions.clicked.value and geo.similarity.cka_ is not None and len(geo.collapse.rows_) == 2
    assert geo.features.top.value.count("<img") == 9 and geo.features.result.value.count("<img") == 1


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of PNG bytes."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
