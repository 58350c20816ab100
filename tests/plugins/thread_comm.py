"""Reads libsinsp's threads table on syscall events: the event's thread's comm and pid,
through the C lookup and field readers (tests/test_table_reads_realhost.py)."""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.tables import Entry, Field, Int64, TablesInit


class Thread(Entry):
    comm = Field(str)
    pid = Field(Int64)


class ThreadComm(ExtractPlugin):
    NAME = "thread_comm"
    VERSION = "1.0.0"
    DESCRIPTION = "The event's thread's comm and pid, from the threads table"
    CONTACT = "falco-plugin tests"
    EXTRACT_EVENT_SOURCES = ["syscall"]

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.threads = tables.import_table("threads", Int64, Thread)

    @field("tc.comm")
    def comm(self, event: ExtractEvent) -> str | None:
        """The thread's comm."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.comm

    @field("tc.pid")
    def pid(self, event: ExtractEvent) -> int | None:
        """The thread's pid."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.pid
