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
        self.kept_handle: object = None  # an entry's handle (an int) kept past its call
        self.last_handle = ""  # the text of the last call's handle
        self.calls = 0

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

    @field("tc.key_forms")
    def key_forms(self, event: ExtractEvent) -> list[str]:
        """The event's thread by its tid, and no thread by keys that share the tid's low
        digit (30 bits) or its magnitude: a key of more than one digit, or negative."""
        tid = event.tid
        keys = (tid, tid + 2**30, tid + 2**60, -tid)
        return [str(self.threads.get(k) is not None) for k in keys]

    @field("tc.handle_versions")
    def handle_versions(self, event: ExtractEvent) -> str:
        """Across calls: an entry's handle after the plugin kept the previous call's handle
        (a new one: the kept one must be refused) or kept nothing (the same int again)."""
        thread = self.threads.get(event.tid)
        if thread is None:
            return "none"
        handle = thread._handle
        if not self.last_handle:
            out = "first"
        elif self.kept_handle is not None:
            out = f"kept:{handle is not self.kept_handle and str(handle) != self.last_handle}"
        else:
            out = f"dropped:{str(handle) == self.last_handle}"
        self.calls += 1
        self.kept_handle = handle if self.calls % 2 == 0 else None
        self.last_handle = str(handle)
        return out
