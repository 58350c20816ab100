"""The event parsing capability: see every event (before any field is extracted from it)
and keep state, usually in tables (see :mod:`falco_plugin.tables`).

    class MyParser(ParsePlugin):
        PARSE_EVENT_SOURCES = ["syscall"]
        PARSE_EVENT_TYPES = [3]          # open exit events

        def __init__(self, config: str, tables: TablesInit) -> None:
            self.threads = tables.import_table("threads", Int64, Thread)

        def parse_event(self, event: ExtractEvent) -> None:
            thread = self.threads.get(event.tid)
            if thread is not None:
                thread.opens += 1

The host ignores a failed parse, so the SDK logs failures (rate-limited).
"""

from __future__ import annotations

from typing import ClassVar

from .base import Plugin
from .extract import ExtractEvent


class ParsePlugin(Plugin):
    """A plugin with the event parsing capability.

    ``PARSE_EVENT_SOURCES`` / ``PARSE_EVENT_TYPES`` choose the events, with the same
    defaults as extraction (its own source, or every plugin source; plugin events only
    unless a source is "syscall").
    """

    PARSE_EVENT_SOURCES: ClassVar[list[str] | None] = None
    PARSE_EVENT_TYPES: ClassVar[list[int] | None] = None

    def parse_event(self, event: ExtractEvent) -> None:
        """Look at one event; write tables here. Raise to report a failure."""
        raise NotImplementedError
