"""A plugin that raises in the entry point its config names, to test error handling."""

from __future__ import annotations

import dataclasses
import signal

from falco_plugin import Eof, Metric, OpenParam, PluginEvent, Progress, SourceInstance, SourcePlugin


@dataclasses.dataclass
class FaultyConfig:
    fail_in: str = ""
    kind: str = "runtime"  # runtime | exit | keyboard | base | plugin
    events_before_failure: int = 0
    touch_signals: bool = False


def boom(config: FaultyConfig, where: str) -> None:
    if config.fail_in != where:
        return
    message = f"boom in {where}"
    if config.kind == "exit":
        raise SystemExit(message)
    if config.kind == "keyboard":
        raise KeyboardInterrupt(message)
    if config.kind == "base":
        raise BaseException(message)
    raise RuntimeError(message)


class FaultyInstance(SourceInstance):
    def __init__(self, config: FaultyConfig) -> None:
        self.config = config
        self.sent = 0

    def next_batch(self, batch) -> None:
        for _ in range(self.config.events_before_failure):
            batch.add(b"before failure")
        boom(self.config, "next_batch")
        if self.sent >= 3:
            raise Eof
        self.sent += 1
        batch.add(f"event {self.sent}")

    def get_progress(self) -> Progress:
        boom(self.config, "get_progress")
        return Progress(50.0, "half")

    def close(self) -> None:
        boom(self.config, "close")


class Faulty(SourcePlugin):
    NAME = "faulty"
    VERSION = "1.0.0"
    DESCRIPTION = "Fails where told to"
    CONTACT = "tests"
    PLUGIN_ID = 424242
    EVENT_SOURCE = "faulty"

    def __init__(self, config: FaultyConfig) -> None:
        self.config = config
        if config.touch_signals:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        boom(config, "init")

    def set_config(self, config: FaultyConfig) -> None:
        boom(self.config, "set_config")
        self.config = config

    def open(self, params: str) -> FaultyInstance:
        boom(self.config, "open")
        return FaultyInstance(self.config)

    def list_open_params(self) -> list[OpenParam]:
        boom(self.config, "list_open_params")
        return [OpenParam("x", "an x")]

    def event_to_string(self, event: PluginEvent) -> str:
        boom(self.config, "event_to_string")
        return "ok: " + event.payload.decode()

    def get_metrics(self) -> list[Metric]:
        boom(self.config, "get_metrics")
        return [Metric("calls", 1)]

    def destroy(self) -> None:
        boom(self.config, "destroy")
