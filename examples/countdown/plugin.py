"""countdown: a source plugin that counts down and stops.

Open params are a number N as text (default 10). The capture emits N plugin events whose
payload is the text "<k> events remaining" for k = N-1 down to 0, at most `batch_size`
events per batch (config, default 128), then ends. Fields: countdown.remaining (k),
countdown.text (the payload) and countdown.divisible[N] (whether k is divisible by N).

A batch is one call of ``batch.add_formatted``, the SDK's fast path for text payloads: the
payloads and the supplied values of countdown.remaining are made in C from a range, with no
Python code per event.
"""

from __future__ import annotations

import dataclasses

from falco_plugin import (
    Eof,
    ExtractEvent,
    ExtractPlugin,
    Metric,
    MetricType,
    OpenParam,
    PluginError,
    PluginEvent,
    Progress,
    SourceInstance,
    SourcePlugin,
    field,
)


@dataclasses.dataclass
class CountdownConfig:
    """Configuration of the countdown plugin."""

    batch_size: int = dataclasses.field(
        default=128, metadata={"description": "Most events returned by one next_batch call"}
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


class CountdownInstance(SourceInstance):
    def __init__(self, plugin: Countdown, total: int) -> None:
        self.plugin = plugin
        self.total = total
        self.remaining = total

    def next_batch(self, batch) -> None:
        stop = max(self.remaining - self.plugin.config.batch_size, 0)
        counts = range(self.remaining - 1, stop - 1, -1)  # k of each event of this batch
        # one event per k, its payload f"{k} events remaining", made by the SDK in C; the
        # field countdown.remaining is supplied with it (answered without calling its method)
        batch.add_formatted("{} events remaining", counts, fields={"countdown.remaining": counts})
        self.plugin.events_emitted += len(counts)
        self.remaining = stop
        if stop == 0:
            raise Eof  # the events added above are still delivered

    def get_progress(self) -> Progress:
        done = self.total - self.remaining
        percent = 100.0 if self.total == 0 else 100.0 * done / self.total
        return Progress(percent, f"{done}/{self.total} events")


class Countdown(SourcePlugin, ExtractPlugin):
    NAME = "countdown"
    VERSION = "0.1.0"
    DESCRIPTION = "Emits N events counting down to zero, then ends"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    PLUGIN_ID = 999
    EVENT_SOURCE = "countdown"

    def __init__(self, config: CountdownConfig) -> None:
        self.config = config
        self.events_emitted = 0

    def open(self, params: str) -> CountdownInstance:
        text = params.strip() or "10"
        try:
            total = int(text)
        except ValueError:
            raise PluginError(f"open params must be a number of events, got {params!r}") from None
        if total < 0:
            raise PluginError(f"the number of events cannot be negative, got {total}")
        self.logger.info("counting down from %d", total)
        return CountdownInstance(self, total)

    def list_open_params(self) -> list[OpenParam]:
        return [OpenParam("10", "ten events (the default)"), OpenParam("1000", "a thousand")]

    def event_to_string(self, event: PluginEvent) -> str:
        return event.payload.decode()

    @field("countdown.remaining")
    def remaining(self, event: ExtractEvent) -> int:
        """How many events come after this one."""
        return int(event.payload.split(b" ", 1)[0])

    @field("countdown.text")
    def text(self, event: ExtractEvent) -> str:
        """The event's text, e.g. "3 events remaining"."""
        return event.payload.decode()

    @field("countdown.divisible")
    def divisible(self, event: ExtractEvent, divisor: int) -> bool:
        """Whether countdown.remaining is divisible by the index, e.g. countdown.divisible[3]."""
        if divisor == 0:
            raise PluginError("countdown.divisible needs a divisor above 0")
        return self.remaining(event) % divisor == 0

    def get_metrics(self) -> list[Metric]:
        return [Metric("events_emitted", self.events_emitted, MetricType.MONOTONIC)]
