"""sweeper: periodic work on the host's thread pool (capture listening).

When a capture opens it subscribes a routine that runs every `interval_ms` (config,
default 100) until `max_sweeps` runs (0: until the capture closes), counting its runs in
the `sweeps` metric. The SDK makes the routine wait between runs, so it never spins.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from falco_plugin import CaptureListen, ListenPlugin, Metric, MetricType


@dataclasses.dataclass
class SweeperConfig:
    """Configuration of the sweeper plugin."""

    interval_ms: int = 100
    max_sweeps: int = 0


class Sweeper(ListenPlugin):
    NAME = "sweeper"
    VERSION = "0.1.0"
    DESCRIPTION = "Runs a periodic routine while a capture is open"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"

    def __init__(self, config: SweeperConfig) -> None:
        self.config = config
        self.sweeps = 0
        self.opened = self.closed = 0
        self.routine: Any = None

    def capture_open(self, listen: CaptureListen) -> None:
        self.opened += 1
        self.routine = listen.subscribe(self.sweep, interval=self.config.interval_ms / 1000)

    def sweep(self) -> bool:
        self.sweeps += 1
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
