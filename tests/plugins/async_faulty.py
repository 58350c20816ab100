"""An async plugin whose start_async or stop_async raises (config: which one)."""

from __future__ import annotations

from falco_plugin import AsyncEmitter, AsyncPlugin


class AsyncFaulty(AsyncPlugin):
    NAME = "async_faulty"
    VERSION = "1.0.0"
    DESCRIPTION = "Fails in start_async or stop_async"
    CONTACT = "tests"
    ASYNC_EVENTS = ["faulty_tick"]

    def __init__(self, config: str = "") -> None:
        self.fail_in = config

    def start_async(self, events: AsyncEmitter) -> None:
        if self.fail_in == "start_async":
            raise RuntimeError("boom in start_async")
        events.emit("faulty_tick", b"started")

    def stop_async(self) -> None:
        if self.fail_in == "stop_async":
            raise RuntimeError("boom in stop_async")
