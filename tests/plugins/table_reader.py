"""Reads and writes the table another plugin exports, with fields looked up at run time."""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, ParsePlugin, field
from falco_plugin.tables import Entry, Field, Table, TablesInit, UInt64, runtime_entry


class Hit(Entry):
    evtnum = Field(UInt64)
    note = Field(str, add=True)  # added to the other plugin's nested table


class TableReader(ParsePlugin, ExtractPlugin):
    NAME = "table_reader"
    VERSION = "1.0.0"
    DESCRIPTION = "Reads an exported table"
    CONTACT = "tests"
    EXTRACT_EVENT_SOURCES = ["countdown"]
    PARSE_EVENT_SOURCES = ["countdown"]

    def __init__(self, config: str, tables: TablesInit) -> None:
        # fields chosen at run time from what the table lists
        names = {name: kind for name, kind, _ in tables.fields("counters", UInt64)}
        declared: dict[str, object] = {n: k for n, k in names.items() if n in ("count", "label")}
        declared["hits"] = Field(Table(Hit, UInt64))  # a nested table, with a field added to it
        Counter = runtime_entry("Counter", declared)
        self.counters = tables.import_table("counters", UInt64, Counter)
        self.listed = sorted(names)
        self.readonly_write = ""

    def parse_event(self, event: ExtractEvent) -> None:
        # through the API into the other plugin's table: add an entry, then update it
        entry = self.counters.get(100)
        if entry is None:
            entry = self.counters.add(100, count=0)
        entry.count += 10  # type: ignore[attr-defined]
        first = self.counters.get(0)
        if first is not None:  # annotate the other plugin's nested rows (a field we added)
            first.hits.each(self._note)  # type: ignore[attr-defined]
        try:
            entry.label = "mine"  # type: ignore[attr-defined]  # read-only for others
            self.readonly_write = "written"
        except Exception as exc:
            self.readonly_write = type(exc).__name__

    @staticmethod
    def _note(hit: Hit) -> None:
        hit.note = f"seen {hit.evtnum}"

    @field("reader.notes")
    def notes(self, event: ExtractEvent, key: int) -> list[str]:
        """The notes this plugin added to the nested rows of an entry."""
        entry = self.counters.get(key)
        found: list[str] = []
        if entry is not None:
            entry.hits.each(lambda hit: found.append(hit.note))  # type: ignore[attr-defined]
        return sorted(found)

    @field("reader.readonly_write")
    def readonly(self, event: ExtractEvent) -> str:
        """What writing a read-only field of the other plugin's table did."""
        return self.readonly_write

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

    @field("reader.hits")
    def hits(self, event: ExtractEvent, key: int) -> list[int]:
        """The event numbers in the nested table of an entry of the owner's table."""
        entry = self.counters.get(key)
        found: list[int] = []
        if entry is not None:
            entry.hits.each(lambda hit: found.append(hit.evtnum))  # type: ignore[attr-defined]
        return sorted(found)

    @field("reader.listed")
    def listed_fields(self, event: ExtractEvent) -> list[str]:
        """The fields the table lists (private ones are not)."""
        return self.listed

    @field("reader.size")
    def size(self, event: ExtractEvent) -> int:
        """Entries in the owner's table."""
        return len(self.counters)
