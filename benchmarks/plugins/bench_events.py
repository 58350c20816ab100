"""Benchmark plugin: the event model's timed loops (``event_timing``) run inside a plugin
library, where ``falco_plugin.event`` uses the library's C event functions.

Init config (JSON): ``events`` (N), ``repeat`` (R), ``only`` (one loop: headers, raw_params,
decode, build; empty for all), ``python`` (true: the Python event functions, as outside a
plugin) and ``out`` (a file for the figures, JSON). The loops run in ``__init__``; the source
ends at once.
"""

from __future__ import annotations

import json

import event_timing

from falco_plugin import Eof, ExtractEvent, ExtractPlugin, SourceInstance, SourcePlugin, field
from falco_plugin.event import raw, typed


class Nothing(SourceInstance):
    def next_batch(self, batch) -> None:
        raise Eof


class BenchEvents(SourcePlugin, ExtractPlugin):
    NAME = "bench_events"
    VERSION = "1.0.0"
    DESCRIPTION = "Event model timings inside a plugin library"
    CONTACT = "falco-plugin benchmarks"
    PLUGIN_ID = 992
    EVENT_SOURCE = "bench_events"

    def __init__(self, config: str) -> None:
        opts = json.loads(config or "{}")
        self.native = raw.NATIVE is not None
        if opts.get("python"):
            raw.NATIVE = typed.NATIVE = None  # the Python functions, as outside a plugin
        if opts.get("events"):
            res = event_timing.run(int(opts["events"]), int(opts.get("repeat", 3)),
                                   opts.get("only", ""))  # fmt: skip
            res["native"] = float(self.native and not opts.get("python"))
            with open(opts["out"], "w") as out:
                json.dump(res, out)

    def open(self, params: str) -> Nothing:
        return Nothing()

    @field("bench_events.native")
    def uses_native(self, event: ExtractEvent) -> bool:
        """Whether the library's C event functions serve falco_plugin.event."""
        return self.native
