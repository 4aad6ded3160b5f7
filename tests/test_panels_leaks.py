"""200 moves of each panel's main controls leave the kernel's live widgets and traced memory flat."""
import tracemalloc

import pytest

pytest.importorskip("jupyter_bokeh")


def flat(move, n: int = 200, warm: int = 20):
    """(widgets added, bytes added) by n moves after `warm` moves that fill the memo and caches."""
    import gc

    from explorer.panels._common import live_widgets

    for i in range(warm):
        move(i)
    gc.collect()
    tracemalloc.start()
    widgets, before = live_widgets(), tracemalloc.get_traced_memory()[0]
    for i in range(n):
        move(warm + i)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return live_widgets() - widgets, grown


@pytest.fixture(scope="module")
def session(digits):
    from explorer import Session

    s = Session.open(digits, "cnn", device="cpu", width=4, epochs=1, seed=0)
    s.memo_size = 64  # a bounded memo: what grows past it would be a leak
    return s


def test_saliency_image_moves(session):
    from explorer.panels.saliency import SaliencyPanel

    panel = SaliencyPanel(session)
    panel.compare.compare_methods.value = ("Grad-CAM",)
    n = len(panel.maps.images)
    widgets, grown = flat(lambda i: setattr(panel.maps.index, "value", (7 * i) % n))
    assert panel.error.value == "" and widgets == 0 and grown < 4e6, (widgets, grown)


def test_codes_split_toggles_and_selections(session):
    from explorer.panels.codes import CodesPanel

    panel = CodesPanel(session, max_points=300)

    def move(i):
        if i % 10 == 0:
            panel.choice.split.value = "train" if panel.choice.split.value == "test" else "test"
        panel.maps.source.selected.indices = list(range(i % 7, 40 + i % 13))
    widgets, grown = flat(move)
    assert panel.error.value == "" and "selected" in panel.selected.selection.value
    assert widgets == 0 and grown < 4e6, (widgets, grown)


def test_landscape_alpha_moves(session):
    from explorer.panels.landscape import LandscapePanel

    panel = LandscapePanel(session, n_eval=32, n_shown=2)
    panel.slices.span.value, panel.slices.resolution.value = 0.5, 7
    panel.slices.recompute()
    widgets, grown = flat(lambda i: setattr(panel.live.alpha, "value", ((i % 20) - 10) / 25))
    assert panel.error.value == "" and widgets == 0 and grown < 4e6, (widgets, grown)


def test_tour_reuse_closes_the_old_panels(session):
    from explorer.app import Tour

    tour = Tour()
    tour.use(session)
    widgets, grown = flat(lambda i: tour.use(session), n=20, warm=2)
    assert tour.error.value == "" and widgets == 0, widgets
