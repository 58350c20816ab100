"""Subscribes routines in capture_open and, unless configured, leaves them subscribed:
the SDK must unsubscribe them at capture_close and destroy. With ``calls_before_close``,
capture_close first waits (a minute at most) until the routines ran that many times."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from falco_plugin import CaptureListen, ListenPlugin, Metric


@dataclasses.dataclass
class Config:
    routines: int = 3
    unsubscribe: bool = False  # the well-behaved way, for comparison
    interval_ms: int = 5
    calls_before_close: int = 0


class Lingering(ListenPlugin):
    NAME = "lingering"
    VERSION = "1.0.0"
    DESCRIPTION = "Leaves its routines subscribed"
    CONTACT = "tests"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.calls = 0
        self.subscribed: list[Any] = []

    def capture_open(self, listen: CaptureListen) -> None:
        for _ in range(self.config.routines):
            self.subscribed.append(listen.subscribe(self.work, self.config.interval_ms / 1000))

    def work(self) -> bool:
        self.calls += 1
        return True

    def capture_close(self, listen: CaptureListen) -> None:
        deadline = time.monotonic() + 60
        while self.calls < self.config.calls_before_close and time.monotonic() < deadline:
            time.sleep(0.001)
        if self.config.unsubscribe:
            for routine in self.subscribed:
                listen.unsubscribe(routine)

    def get_metrics(self) -> list[Metric]:
        return [Metric("routine_calls", self.calls)]
