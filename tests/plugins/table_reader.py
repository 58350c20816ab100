"""Reads the table another plugin exports, with fields looked up at run time."""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.tables import TablesInit, UInt64, runtime_entry


class TableReader(ExtractPlugin):
    NAME = "table_reader"
    VERSION = "1.0.0"
    DESCRIPTION = "Reads an exported table"
    CONTACT = "tests"
    EXTRACT_EVENT_SOURCES = ["countdown"]

    def __init__(self, config: str, tables: TablesInit) -> None:
        # fields chosen at run time from what the table lists
        names = {name: kind for name, kind, _ in tables.fields("counters", UInt64)}
        Counter = runtime_entry(
            "Counter", {n: k for n, k in names.items() if n in ("count", "label")}
        )
        self.counters = tables.import_table("counters", UInt64, Counter)
        self.listed = sorted(names)

    @field("reader.count")
    def count(self, event: ExtractEvent, key: int) -> int | None:
        """The count stored under a key of the owner's table."""
        entry = self.counters.get(key)
        return None if entry is None else entry.count  # type: ignore[attr-defined]

    @field("reader.label")
    def label(self, event: ExtractEvent, key: int) -> str | None:
        """The label stored under a key."""
        entry = self.counters.get(key)
        return None if entry is None else entry.label  # type: ignore[attr-defined]

    @field("reader.listed")
    def listed_fields(self, event: ExtractEvent) -> list[str]:
        """The fields the table lists (private ones are not)."""
        return self.listed

    @field("reader.size")
    def size(self, event: ExtractEvent) -> int:
        """Entries in the owner's table."""
        return len(self.counters)
