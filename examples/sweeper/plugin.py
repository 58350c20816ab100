"""sweeper: periodic work while a capture is open (capture listening), reported to Falco.

When a capture opens it subscribes a routine that runs every `interval_ms` (config,
default 100) until `max_sweeps` runs (0: until the capture closes), counting its runs in
the `sweeps` metric and reporting each one as a `sweep` async event (JSON `{"sweeps": n}`),
which Falco rules see. The SDK makes the routine wait between runs, so it never spins, and
runs it on a thread of its own where the host has no routine thread pool (Falco built with
the libs' defaults). Falco loads a plugin only for a capability an event source uses: here
the async events.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from falco_plugin import (
    AsyncEmitter,
    AsyncEventError,
    AsyncPlugin,
    CaptureListen,
    ListenPlugin,
    Metric,
    MetricType,
)


@dataclasses.dataclass
class SweeperConfig:
    """Configuration of the sweeper plugin."""

    interval_ms: int = 100
    max_sweeps: int = 0


class Sweeper(ListenPlugin, AsyncPlugin):
    NAME = "sweeper"
    VERSION = "0.1.0"
    DESCRIPTION = "Runs a periodic routine while a capture is open"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    ASYNC_EVENTS = ["sweep"]

    def __init__(self, config: SweeperConfig) -> None:
        self.config = config
        self.sweeps = 0
        self.opened = self.closed = 0
        self.routine: Any = None
        self.events: AsyncEmitter | None = None

    def start_async(self, events: AsyncEmitter) -> None:
        self.events = events

    def stop_async(self) -> None:
        self.events = None

    def capture_open(self, listen: CaptureListen) -> None:
        self.opened += 1
        self.routine = listen.subscribe(self.sweep, interval=self.config.interval_ms / 1000)

    def sweep(self) -> bool:
        self.sweeps += 1
        events = self.events
        if events is not None:
            try:
                events.emit("sweep", json.dumps({"sweeps": self.sweeps}))
            except (AsyncEventError, RuntimeError):  # refused, or the handler just cleared
                pass
        return not (self.config.max_sweeps and self.sweeps >= self.config.max_sweeps)

    def capture_close(self, listen: CaptureListen) -> None:
        self.closed += 1
        listen.unsubscribe(self.routine)  # safe while the routine runs

    def get_metrics(self) -> list[Metric]:
        gauge = MetricType.NON_MONOTONIC
        return [
            Metric("sweeps", self.sweeps),
            Metric("captures_opened", self.opened, gauge),
            Metric("captures_closed", self.closed, gauge),
        ]
