"""Draw the latest of a stream of results at most once per gap, on the kernel's loop."""
from __future__ import annotations

import time

from ..executor import kernel_loop


class Latest:
    """put(ticket, item) draws at once, or, within `gap(last item)` seconds of the last draw, keeps the item as the
    latest and draws it when the gap is over, if its ticket is still the owner's current one and not stopped. A fast
    job's every partial result would flood the page: the Jupyter server drops IOPub messages over its rates (1,000
    a second, 1 MB a second by default) and the page then silently stops following."""

    def __init__(self, owner, draw, gap):
        self.owner, self.draw, self.gap = owner, draw, gap
        self.pending, self.timer, self.at, self.wait = None, None, 0.0, 0.0

    def put(self, ticket, item) -> None:
        self.pending = (ticket, item)
        loop = kernel_loop()
        if loop is None:
            return self.flush()
        if self.timer is None:
            self.timer = loop.call_later(max(0.0, self.at + self.wait - time.perf_counter()), self.flush)

    def flush(self) -> None:
        (ticket, item), self.pending, self.timer = self.pending or (None, None), None, None
        if item is not None and ticket is self.owner.ticket_ and not ticket.stop.is_set():
            self.at, self.wait = time.perf_counter(), self.gap(item)
            self.draw(item)

    def take(self):
        """The item waiting, if any (dropped here: the caller draws it)."""
        item = self.pending[1] if self.pending else None
        self.drop()
        return item

    def drop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.pending = self.timer = None
