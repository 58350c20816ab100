"""Probes the async API's errors and reports them as async events."""

from __future__ import annotations

import threading

from falco_plugin import AsyncEmitter, AsyncEventError, AsyncPlugin


class AsyncProbe(AsyncPlugin):
    NAME = "async_probe"
    VERSION = "1.0.0"
    DESCRIPTION = "Reports what the async API does on errors"
    CONTACT = "tests"
    ASYNC_EVENTS = ["probe"]

    def __init__(self, config: str = "") -> None:
        self.old: AsyncEmitter | None = None
        self.starts = 0

    def start_async(self, events: AsyncEmitter) -> None:
        self.starts += 1
        try:
            events.emit("not_declared", b"x")
            events.emit("probe", b"undeclared name accepted")
        except AsyncEventError as exc:
            events.emit("probe", f"refused: {exc}")
        if self.old is not None:  # the emitter of the previous start: closed by now
            try:
                self.old.emit("probe", b"old emitter still works")
            except RuntimeError as exc:
                events.emit("probe", f"old emitter: {exc}")
        self.old = events
        # from another Python thread, with str data and explicit ts/tid
        t = threading.Thread(target=lambda: events.emit("probe", "from a thread", ts=123, tid=7))
        t.start()
        t.join()
