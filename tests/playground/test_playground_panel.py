"""The playground panel headless: it draws the untrained net's exact regions, redraws them at every snapshot while
training, rebuilds on a new network, takes the user's points, and shows a bad input as an error."""
import numpy as np
import pytest
import torch

pytest.importorskip("jupyter_bokeh")


def test_training_redraws_the_regions_at_every_snapshot():
    import explorer

    panel = explorer.Playground()
    v = panel.view
    assert panel.error.value == "" and "untrained" in v.summary.value
    assert len(v.plot.pieces.data["xs"]) > 0 and len(v.plot.points.data["x"]) == 200
    drawn = []
    v.plot.draw = lambda snap, k, draw=v.plot.draw: (drawn.append(snap.step), draw(snap, k))
    v.epochs.value, v.every.value = 20, 50
    v.start()
    assert panel.error.value == "", panel.error.value
    assert drawn == [0, 50, 100, 150, 200, 200]  # every snapshot as it came, the last again with the test accuracy
    assert "test accuracy" in v.summary.value and "step 200 of 200" in v.summary.value
    assert float(v.summary.value.split("train accuracy ")[1].split("%")[0]) > 90
    assert v.current()


def test_a_new_network_is_drawn_at_once():
    from explorer import Playground

    v = Playground().view
    before = v.session_now()
    v.depth.value = 3
    assert v.session_now() is not before and len(v.session_now().model) == 1 + 2 * 3 + 1
    assert "untrained" in v.summary.value
    v.activation.value = "leaky relu"
    assert v.error.value == "" and int(v.summary.value.split("<b>")[1].split()[0]) > 1
    # weights changed by a cell: drawn again at once (one unit of the first layer made dead: fewer regions)
    s, n = v.session_now(), len(v.plot.edges.data["xs"])
    with torch.no_grad():
        s.model.fc1.weight[0] = 0.0
        s.model.fc1.bias[0] = -1.0
    s.changed()
    assert v.current() and 1 < len(v.plot.edges.data["xs"]) < n


def test_own_points_and_bad_points():
    from explorer import Playground

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 0.3, (20, 2)), rng.normal(1, 0.3, (20, 2))])
    p = Playground(x, [0] * 20 + [1] * 20, classes=["a", "b"])
    assert p.view.data.value == "your points" and len(p.view.plot.points.data["x"]) == 40
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="x has NaN or infinite coordinates in 1 of 40 points"):
        Playground(x, [0] * 20 + [1] * 20)


def test_a_snapshot_goes_to_the_page_in_a_few_messages():
    """jupyter_bokeh sends each buffer of a document change as two comm messages: the ragged region columns as
    arrays made one snapshot 2,700 messages, over the Jupyter server's IOPub limit (1,000 a second), which then
    dropped them (the page stopped following the training). As plain lists they are no buffers at all."""
    from bokeh.core.serialization import Serializer

    from explorer import Playground

    v = Playground().view
    for source in (v.plot.pieces, v.plot.edges, v.plot.boundary):
        assert len(source.data["xs"]) > 0
        ser = Serializer(deferred=True)
        ser.encode(dict(source.data))
        assert ser.buffers == [], f"{len(ser.buffers)} buffers"


def test_partial_results_are_drawn_at_most_once_a_gap_and_the_last_is_not_lost():
    """On a kernel's loop, a stream of snapshots is drawn first at once, then only the latest once the gap is over;
    a snapshot of a ticket that is no longer current is never drawn."""
    import asyncio
    from types import SimpleNamespace

    from explorer.panels import _throttle

    drawn, owner = [], SimpleNamespace(ticket_=None)
    ticket = SimpleNamespace(stop=SimpleNamespace(is_set=lambda: False))
    owner.ticket_ = ticket
    latest = _throttle.Latest(owner, drawn.append, lambda item: 0.2)

    async def stream():
        loop = asyncio.get_running_loop()
        _throttle.kernel_loop = lambda: loop
        for i in range(50):
            latest.put(ticket, i)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        latest.put(SimpleNamespace(stop=ticket.stop), "old")  # another ticket's: not drawn
        await asyncio.sleep(0.5)

    import threading

    kernel_loop = _throttle.kernel_loop
    try:  # a loop of its own on a thread of its own: the suite's thread may hold a running loop already
        t = threading.Thread(target=lambda: asyncio.run(stream()))
        t.start()
        t.join(30)
    finally:
        _throttle.kernel_loop = kernel_loop
    assert drawn[0] == 0 and drawn[-1] == 49 and 2 <= len(drawn) <= 6, drawn
