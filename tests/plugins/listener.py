"""Capture listening with a routine, and a field so that Falco loads it next to a source.

Config: the routine's interval, how many runs before it stops by itself (0: never), and
the hook that raises (capture_open, capture_close or routine).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from falco_plugin import CaptureListen, ExtractEvent, ExtractPlugin, ListenPlugin, Metric, field


@dataclasses.dataclass
class ListenerConfig:
    interval_ms: int = 5
    max_runs: int = 0
    fail_in: str = ""


class Listener(ListenPlugin, ExtractPlugin):
    NAME = "listener"
    VERSION = "1.0.0"
    DESCRIPTION = "A routine while the capture is open"
    CONTACT = "tests"

    def __init__(self, config: ListenerConfig) -> None:
        self.config = config
        self.runs = self.opened = self.closed = 0
        self.routine: Any = None

    def capture_open(self, listen: CaptureListen) -> None:
        self.opened += 1
        if self.config.fail_in == "capture_open":
            raise RuntimeError("boom in capture_open")
        self.routine = listen.subscribe(self.run, interval=self.config.interval_ms / 1000)

    def run(self) -> bool:
        self.runs += 1
        if self.config.fail_in == "routine":
            raise RuntimeError("boom in routine")
        return not (self.config.max_runs and self.runs >= self.config.max_runs)

    def capture_close(self, listen: CaptureListen) -> None:
        self.closed += 1
        if self.routine is not None:
            listen.unsubscribe(self.routine)
        if self.config.fail_in == "capture_close":
            raise RuntimeError("boom in capture_close")

    @field("listener.runs")
    def runs_so_far(self, event: ExtractEvent) -> int:
        """How many times the routine ran so far."""
        return self.runs

    def get_metrics(self) -> list[Metric]:
        return [
            Metric("runs", self.runs),
            Metric("opened", self.opened),
            Metric("closed", self.closed),
        ]
