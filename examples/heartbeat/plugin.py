"""heartbeat: async events from a background thread.

While Falco's handler is set, a background task emits a `heartbeat` async event every
`interval_ms` (config, default 1000) whose data is JSON {"seq": n, "plugin": "heartbeat"}.
Asked to dump its state, it emits one `heartbeat_state` event with the count so far.
"""

from __future__ import annotations

import dataclasses
import json

from falco_plugin import AsyncEmitter, AsyncPlugin, BackgroundTask, Metric


@dataclasses.dataclass
class HeartbeatConfig:
    """Configuration of the heartbeat plugin."""

    interval_ms: int = dataclasses.field(
        default=1000, metadata={"description": "Milliseconds between two heartbeats"}
    )
    threads: int = dataclasses.field(
        default=1, metadata={"description": "Background threads emitting heartbeats"}
    )

    def __post_init__(self) -> None:
        if self.interval_ms < 1 or not 1 <= self.threads <= 16:
            raise ValueError("interval_ms must be >= 1 and threads between 1 and 16")


class Heartbeat(AsyncPlugin):
    NAME = "heartbeat"
    VERSION = "0.1.0"
    DESCRIPTION = "Emits heartbeat async events from background threads"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    ASYNC_EVENTS = ["heartbeat", "heartbeat_state"]

    def __init__(self, config: HeartbeatConfig) -> None:
        self.config = config
        self.tasks: list[BackgroundTask] = []
        self.sent = 0

    def start_async(self, events: AsyncEmitter) -> None:
        interval = self.config.interval_ms / 1000
        for t in range(self.config.threads):
            seq = iter(range(2**63))

            def beat(t: int = t, seq: object = seq) -> None:
                n = next(seq)  # type: ignore[call-overload]
                events.emit("heartbeat", json.dumps({"thread": t, "seq": n}))
                self.sent += 1

            task = BackgroundTask(beat, interval, name=f"heartbeat-{t}")
            task.start()
            self.tasks.append(task)
        self.logger.info("started %d heartbeat thread(s)", len(self.tasks))

    def stop_async(self) -> None:
        for task in self.tasks:
            task.stop()  # joins: no heartbeat after this returns
        self.tasks.clear()

    def dump_state(self, events: AsyncEmitter) -> None:
        events.emit("heartbeat_state", json.dumps({"sent": self.sent}))

    def get_metrics(self) -> list[Metric]:
        return [Metric("heartbeats_sent", self.sent)]
