"""The kernel-drawn map headless: bokeh's events (a pointer move, a lasso, a zoom) as the page sends them."""
import numpy as np
import pytest

pytest.importorskip("datashader")


@pytest.fixture(scope="module")
def drawn():
    from explorer.panels._common import ErrorLine
    from explorer.panels.kernelmap import KernelMap

    rng = np.random.default_rng(0)
    xy = rng.normal(0, 1, (30_000, 2))
    picked = []
    m = KernelMap(ErrorLine(), 120, 100, describe=lambda i: f"#{i}!", on_select=picked.append)
    m.build()
    m.show(xy, rng.integers(0, 3, len(xy)), ["#ff0000", "#00ff00", "#0000ff"], "abc", "30,000 points")
    return m, xy, picked


def test_show_draws_an_image_of_the_frame_and_says_the_renderer(drawn):
    m, xy, _ = drawn
    img = m.image.data["image"][0]
    assert img.shape == (100, 120) and (img >> 24).any()
    assert m.fig.title.text == "30,000 points; drawn by datashader in the kernel"


def test_recolour_sends_a_new_image(drawn):
    m, xy, _ = drawn
    before = m.image.data["image"][0]
    m.recolour(np.zeros(len(xy), int), ["#000000"], ["all"])
    assert [i.label["value"] for i in m.legend.items] == ["all"]
    assert (m.image.data["image"][0] != before).any()


def test_hover_marks_the_nearest_point(drawn):
    from bokeh import events

    m, xy, _ = drawn
    m.fig._trigger_event(events.MouseMove(m.fig, sx=0, sy=0, x=0.3, y=-0.2))
    i = int(np.argmin(np.hypot(*((xy - [0.3, -0.2]) * m.scale).T)))
    assert m.mark.data == {"x": [xy[i, 0]], "y": [xy[i, 1]], "text": [f"#{i}!"]}
    m.fig._trigger_event(events.MouseMove(m.fig, sx=0, sy=0, x=50.0, y=50.0))  # far from every point
    assert m.mark.data["x"] == []


def test_lasso_selects_the_points_inside_and_greys_the_rest(drawn):
    from bokeh import events

    m, xy, picked = drawn
    before = m.image.data["image"][0]
    m.fig._trigger_event(events.SelectionGeometry(m.fig, {"type": "poly", "x": [0, 1, 1, 0], "y": [0, 0, 1, 1]},
                                                  final=True))
    inside = np.flatnonzero((xy[:, 0] > 0) & (xy[:, 0] < 1) & (xy[:, 1] > 0) & (xy[:, 1] < 1))
    np.testing.assert_array_equal(picked[-1], inside)
    assert (m.image.data["image"][0] != before).any()


def test_a_lasso_counts_no_point_again_and_draws_what_a_full_render_draws(drawn, monkeypatch):
    """The lasso's picture comes from the drawing's kept counts (datashader not run again) and equals rendering
    every point with the unselected grey; so does a zoom's while a selection stands."""
    from bokeh import events

    from explorer.codes import bigmap

    m, xy, picked = drawn
    calls, counts = [], bigmap.counts
    monkeypatch.setattr(bigmap, "counts", lambda *a, **k: calls.append(a) or counts(*a, **k))
    m.fig._trigger_event(events.SelectionGeometry(m.fig, {"type": "poly", "x": [-1, 1, 0], "y": [-1, -1, 1.5]},
                                                  final=True))
    assert not calls and 1000 < len(picked[-1]) < len(xy) - 1000
    codes = np.where(m.selected, m.codes, len(m.palette))
    for _ in range(2):
        full = bigmap.render(xy, codes, [*m.palette, bigmap.GREY], *m.ranges, m.width, m.height)
        np.testing.assert_array_equal(m.image.data["image"][0], full)
        m.fig._trigger_event(events.RangesUpdate(m.fig, x0=-0.7, x1=0.9, y0=-1.1, y1=0.6))  # zoomed, still selected
    m.select(np.zeros(len(xy), bool))


def test_zoom_renders_at_the_new_range(drawn):
    from bokeh import events

    m, _, _ = drawn
    m.fig._trigger_event(events.RangesUpdate(m.fig, x0=-0.5, x1=0.5, y0=-0.5, y1=0.5))
    assert m.image.data["x"] == [-0.5] and m.image.data["dw"] == [1.0]


def test_a_point_map_beyond_its_cap_says_what_was_sampled_and_recolours():
    from explorer.panels.pointmap import PointMap

    rng = np.random.default_rng(1)
    xy = rng.normal(0, 1, (5_000, 2))
    m = PointMap(xy, {"a": rng.integers(0, 3, 5_000), "b": rng.integers(0, 2, 5_000)}, title="test", cap=2_000)
    assert m.map.fig.title.text == ("test; 2,000 of 5,000 points drawn (a seeded sample, seed 0: the map's cap is "
                                    "2,000); drawn by datashader in the kernel")
    assert len(m.map.xy) == 2_000 and not m.error.value
    before = m.map.image.data["image"][0]
    m.colour.value = "b"
    assert (m.map.image.data["image"][0] != before).any() and len(m.map.legend.items) == 2
    m.map._lasso(type("E", (), {"final": True, "geometry": {"type": "poly", "x": [0, 9, 9, 0], "y": [0, 0, 9, 9]}}))
    want = np.flatnonzero((xy[:, 0] > 0) & (xy[:, 1] > 0))
    assert set(m.selection_) == set(want) & set(m.idx_) and len(m.selection_) > 300


def test_codes_map_above_big_is_drawn_in_the_kernel_and_says_its_sample(digits, trained_session, monkeypatch):
    """The codes panel's map above BIG points (lowered here to 100) swaps bokeh's scatter for the kernel's image;
    its title names the embedding and what was sampled; a lasso selects in the lab's state; a recolour redraws."""
    import copy

    from explorer import Session
    from explorer.panels.codes import CodesPanel
    from explorer.panels.codes import map as mod

    monkeypatch.setattr(mod, "BIG", 100)
    s = Session(copy.deepcopy(trained_session.model), digits, trained_session.history)
    n = len(digits.labels("test"))
    p = CodesPanel(s, max_points=n - 7)
    v = p.maps
    assert v.big.plot in v.children and v.plot not in v.children and not p.error.value
    assert v.big.fig.title.text == (f"PCA of all {n - 7:,} points; {n - 7:,} of {n:,} points drawn (a seeded sample, "
                                    f"seed 0: the map's cap is {n - 7:,}); drawn by datashader in the kernel")
    before = v.big.image.data["image"][0]
    v.colour.value = "correct"
    assert (v.big.image.data["image"][0] != before).any()
    xy = v.map_
    lo, hi = xy.min(0), xy.max(0)
    v.big._lasso(type("E", (), {"final": True, "geometry": {"type": "poly", "x": [lo[0], hi[0], hi[0], lo[0]],
                                                                     "y": [lo[1], lo[1], hi[1], hi[1]]}}))
    assert 0 < len(p.state.selection) <= n - 7
    v.big._mark(3)
    i = v.state.points[3]
    assert v.big.mark.data["text"][0].startswith(f"# {i}, label {digits.labels('test').numpy()[i]}, predicted ")
