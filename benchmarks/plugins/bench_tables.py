"""Benchmark plugins for state tables (``benchmarks/tables.py``), mirrors of the C reference
``benchmarks/c_reference/tables_ref.c``. Build one with ``bench_tables.py:<Class>``.

- :class:`BenchTables` (parse + extract) reads the host's ``threads`` table at the event's
  tid: a lookup only, the static ``comm`` (its length) and ``pid``, and a uint64 field it
  adds at init and increments in ``parse_event`` (so the value read is real); and the tid
  alone, which reads no table (the same call without the tables, to subtract).
- :class:`BenchTablesSyscall`: the same on syscall events, whose threads table is libsinsp's
  own (built from a capture file's process list).
- :class:`BenchExporter` exports ``bench_rows`` (uint64 key -> ``value``), filled at init
  with ``ROWS`` entries; it is extract-capable only to get the tables API.
- :class:`BenchReader` reads ``bench_rows`` (from this exporter or the C one, which has the
  same name and fields) at key ``evtnum % ROWS``.

Every field does what a real one would: one lookup per call, released when the call
returns; no caching across calls.
"""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, ParsePlugin, field
from falco_plugin.tables import (
    Entry,
    ExportedEntry,
    Field,
    Int64,
    Public,
    TablesInit,
    UInt64,
)

SOURCES = ["countdown"]  # the countdown example is the event source
ROWS = 64  # entries of bench_rows (the C exporter has the same)
TABLE = "bench_rows"


def row_value(key: int) -> int:
    """What both exporters store under ``key``."""
    return 1000 + key


class Thread(Entry):
    """The fields of ``threads`` the benchmark uses."""

    comm = Field(str)
    pid = Field(Int64)
    counter = Field(UInt64, name="bench_tables_counter", add=True)


class BenchTables(ParsePlugin, ExtractPlugin):
    """Threads table reads from extract, a counter written by parse."""

    NAME = "bench_tables"
    VERSION = "1.0.0"
    DESCRIPTION = "Threads table lookups and field reads, for benchmarks"
    CONTACT = "falco-plugin benchmarks"
    PARSE_EVENT_SOURCES = SOURCES
    EXTRACT_EVENT_SOURCES = SOURCES

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.threads = tables.import_table("threads", Int64, Thread)

    def parse_event(self, event: ExtractEvent) -> None:
        """Counts the events of each thread in the added field."""
        thread = self.threads.get(event.tid)
        if thread is not None:
            thread.counter += 1

    @field("bench_tables.tid")
    def tid(self, event: ExtractEvent) -> int:
        """The event's tid, reading no table: what the call costs without the tables."""
        return event.tid

    @field("bench_tables.lookup")
    def lookup(self, event: ExtractEvent) -> int | None:
        """1 when the event's thread is found (a lookup, no field read)."""
        return None if self.threads.get(event.tid) is None else 1

    @field("bench_tables.comm_len")
    def comm_len(self, event: ExtractEvent) -> int | None:
        """The length of the thread's comm (a static string field)."""
        thread = self.threads.get(event.tid)
        return None if thread is None else len(thread.comm)

    @field("bench_tables.pid")
    def pid(self, event: ExtractEvent) -> int | None:
        """The thread's pid (a static int64 field); none when negative."""
        thread = self.threads.get(event.tid)
        if thread is None:
            return None
        pid: int = thread.pid
        return pid if pid >= 0 else None

    @field("bench_tables.counter")
    def counter(self, event: ExtractEvent) -> int | None:
        """The added field parse_event increments: events of this thread so far."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.counter


class BenchTablesSyscall(BenchTables):
    """The same fields on libsinsp's own threads table, for syscall events (a capture file)."""

    PARSE_EVENT_SOURCES = ["syscall"]
    EXTRACT_EVENT_SOURCES = ["syscall"]


class ExportedRow(ExportedEntry):
    """An entry of the exported table."""

    value = Public(UInt64)


class BenchExporter(ExtractPlugin):
    """Exports ``bench_rows``, filled at init."""

    NAME = "bench_exporter"
    VERSION = "1.0.0"
    DESCRIPTION = "Exports a table for benchmarks"
    CONTACT = "falco-plugin benchmarks"
    EXTRACT_EVENT_SOURCES = SOURCES

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.rows = tables.export_table(TABLE, UInt64, ExportedRow)
        for key in range(ROWS):
            self.rows[key] = ExportedRow(value=row_value(key))

    @field("bench_exporter.rows")
    def rows_count(self, event: ExtractEvent) -> int:
        """Entries in the exported table (not used by the benchmark)."""
        return len(self.rows)


class ImportedRow(Entry):
    """The field of ``bench_rows`` the reader uses."""

    value = Field(UInt64)


class BenchReader(ExtractPlugin):
    """Reads ``bench_rows``, whichever plugin exports it."""

    NAME = "bench_reader"
    VERSION = "1.0.0"
    DESCRIPTION = "Reads an exported table by key, for benchmarks"
    CONTACT = "falco-plugin benchmarks"
    EXTRACT_EVENT_SOURCES = SOURCES

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.rows = tables.import_table(TABLE, UInt64, ImportedRow)

    @field("bench_reader.value")
    def value(self, event: ExtractEvent) -> int | None:
        """The value stored under key ``evtnum % ROWS``."""
        row = self.rows.get(event.evtnum % ROWS)
        return None if row is None else row.value
