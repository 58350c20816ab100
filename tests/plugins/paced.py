"""paced: a source whose events come at a pace, with progress: for the run command's live
display and its --watch.

Open params "N:MS": N events (0: no end), one every MS milliseconds. The payload is
"<LABEL> <k>", LABEL a constant the --watch tests edit; progress is k of N.
"""

from __future__ import annotations

import time

from falco_plugin import Eof, PluginError, Progress, SourceInstance, SourcePlugin

LABEL = "v1"


class PacedInstance(SourceInstance):
    def __init__(self, total: int, interval: float) -> None:
        self.total = total
        self.interval = interval
        self.done = 0

    def next_batch(self, batch) -> None:
        time.sleep(self.interval)
        self.done += 1
        batch.add(f"{LABEL} {self.done}")
        if self.total and self.done >= self.total:
            raise Eof

    def get_progress(self) -> Progress:
        if not self.total:
            return Progress(0.0, f"{self.done} events")
        return Progress(100.0 * self.done / self.total, f"{self.done}/{self.total} events")


class Paced(SourcePlugin):
    NAME = "paced"
    VERSION = "0.1.0"
    DESCRIPTION = "Events at a pace, with progress"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    PLUGIN_ID = 999010
    EVENT_SOURCE = "paced"

    def __init__(self, config: str) -> None:
        pass

    def open(self, params: str) -> PacedInstance:
        count, _, ms = params.partition(":")
        try:
            return PacedInstance(int(count or 10), int(ms or 20) / 1000)
        except ValueError:
            raise PluginError(f"open params must be N:MS, got {params!r}") from None

    def event_to_string(self, event) -> str:
        return event.payload.decode()
