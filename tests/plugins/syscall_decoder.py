"""Decodes every event with the SDK's event model, in parse_event and in its fields, with no
tables: a target for malformed events (the fuzz pass)."""

from __future__ import annotations

from typing import Any

from falco_plugin import ExtractEvent, ExtractPlugin, ParsePlugin, field
from falco_plugin.event import decode


class SyscallDecoder(ParsePlugin, ExtractPlugin):
    NAME = "syscall_decoder"
    VERSION = "1.0.0"
    DESCRIPTION = "Decodes events"
    CONTACT = "tests"

    def __init__(self, config: str) -> None:
        self.parsed = 0

    def make_context(self, event: ExtractEvent) -> Any:
        return decode(event.raw)

    def parse_event(self, event: ExtractEvent) -> None:
        self.parsed += len(str(event.context.params))

    @field("dec.name")
    def name(self, event: ExtractEvent) -> str:
        """The event's name."""
        return event.context.name

    @field("dec.params")
    def params(self, event: ExtractEvent) -> list[str]:
        """Every parameter, as text."""
        return [str(event.context.params)]

    @field("dec.payload")
    def payload(self, event: ExtractEvent) -> str:
        """A plugin event's payload as text (strict UTF-8)."""
        return event.payload.decode()
