"""Imports the threads table with the wrong key type: init must fail with a clear message."""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.tables import Entry, Field, TablesInit, UInt64


class Thread(Entry):
    comm = Field(str)


class WrongKey(ExtractPlugin):
    NAME = "table_wrongkey"
    VERSION = "1.0.0"
    DESCRIPTION = "Wrong key type"
    CONTACT = "tests"

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.threads = tables.import_table("threads", UInt64, Thread)

    @field("wrongkey.x")
    def x(self, event: ExtractEvent) -> int:
        """Never reached."""
        return 0
