"""Benchmark source: countdown-like events through the per-event or the bulk batch API.

Open params are the number of events; the config picks the batch size and the path:
``add`` (one call per event), ``add_many`` (one call per batch), and whether payloads are
formatted per event (``"<k> events remaining"``, like countdown) or reused (SDK cost only).
``formatted`` makes the countdown payloads with ``add_formatted`` (in C) instead. ``supply``
adds every event with ``fields={"bench_source.remaining": k}`` (with ``bulk``: one column
of values for the batch, ``add_many(payloads, fields={...: range})``): that field is then
answered in C, without calling its method.
"""

from __future__ import annotations

import dataclasses

from falco_plugin import Eof, ExtractEvent, ExtractPlugin, SourceInstance, SourcePlugin, field


@dataclasses.dataclass
class BenchConfig:
    batch_size: int = 512
    bulk: bool = False
    format_payloads: bool = True
    json_payloads: bool = False  # {"id": k, "user": {"name": ...}} instead of text
    supply: bool = False  # add(payload, fields={"bench_source.remaining": k})
    formatted: bool = False  # add_formatted("{} events remaining", range)


class BenchInstance(SourceInstance):
    def __init__(self, config: BenchConfig, total: int) -> None:
        self.remaining = total
        self.size = config.batch_size
        self.bulk = config.bulk
        self.format = config.format_payloads
        self.fixed = b"1234567 events remaining"
        self.json = config.json_payloads
        self.supply = config.supply
        self.formatted = config.formatted

    def next_batch(self, batch) -> None:
        start = self.remaining
        stop = max(start - self.size, 0)
        if start == 0:
            raise Eof
        if self.json:
            batch.add_many(
                [
                    f'{{"id": {k}, "user": {{"name": "u{k % 7}"}}}}'
                    for k in range(start - 1, stop - 1, -1)
                ]
            )
        elif self.formatted:
            batch.add_formatted("{} events remaining", range(start - 1, stop - 1, -1))
        elif self.bulk and self.supply:
            ks = range(start - 1, stop - 1, -1)
            batch.add_many([f"{k} events remaining" for k in ks],
                           fields={"bench_source.remaining": ks})  # fmt: skip
        elif self.bulk:
            if self.format:
                batch.add_many([f"{k} events remaining" for k in range(start - 1, stop - 1, -1)])
            else:
                batch.add_many([self.fixed] * (start - stop))
        elif self.supply:
            add = batch.add
            for k in range(start - 1, stop - 1, -1):
                add(f"{k} events remaining", fields={"bench_source.remaining": k})
        elif self.format:
            add = batch.add
            for k in range(start - 1, stop - 1, -1):
                add(f"{k} events remaining")
        else:
            add = batch.add
            fixed = self.fixed
            for _ in range(start - stop):
                add(fixed)
        self.remaining = stop
        if stop == 0:
            raise Eof  # with the last events, like the C reference


class BenchSource(SourcePlugin, ExtractPlugin):
    NAME = "bench_source"
    VERSION = "1.0.0"
    DESCRIPTION = "Countdown-like events for benchmarks"
    CONTACT = "falco-plugin benchmarks"
    PLUGIN_ID = 997
    EVENT_SOURCE = "bench_source"

    def __init__(self, config: BenchConfig) -> None:
        self.config = config

    def open(self, params: str) -> BenchInstance:
        return BenchInstance(self.config, int(params or "1000000"))

    @field("bench_source.remaining")
    def remaining(self, event: ExtractEvent) -> int:
        """The count at the start of the payload (parsing it is most of the cost)."""
        return int(event.payload.split(b" ", 1)[0])

    @field("bench_source.len")
    def length(self, event: ExtractEvent) -> int:
        """The payload's length: a field with almost no work, to show the SDK's own cost."""
        return len(event.payload)

    @field("bench_source.ts")
    def timestamp(self, event: ExtractEvent) -> int:
        """The event's timestamp: a large integer (nanoseconds), as time fields return."""
        return event.ts
