"""Exports a table (with a nested table per entry) and nothing else: for lifetime tests."""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.tables import ExportedEntry, Nested, Public, ReadOnly, TablesInit, UInt64

# the second table's name is long: writes refused on each table give errors of two lengths
LONG_NAME = "lifetime_counters_" + "with_a_much_longer_name_" * 8


class Hit(ExportedEntry):
    evtnum = Public(UInt64)


class Counter(ExportedEntry):
    count = Public(UInt64)
    label = ReadOnly(str)  # other plugins' writes are refused
    hits = Nested(Hit, UInt64)


class TableExporter(ExtractPlugin):
    NAME = "table_exporter"
    VERSION = "1.0.0"
    DESCRIPTION = "Exports a table"
    CONTACT = "tests"

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.counters = tables.export_table("lifetime_counters", UInt64, Counter)
        self.other = tables.export_table(LONG_NAME, UInt64, Counter)
        for key in range(3):
            self.counters[key] = Counter(count=key, label="x")
            self.counters[key].hits[key] = Hit(evtnum=key)
            self.other[key] = Counter(count=key, label="y")

    @field("exporter.size")
    def size(self, event: ExtractEvent) -> int:
        """Entries in the exported table."""
        return len(self.counters)
