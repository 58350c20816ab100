"""Parses and extracts syscall events through libsinsp's own state: the `threads` table and
each thread's nested `file_descriptors`, with a field it adds to each (how many events of
the thread it parsed, how many touched the fd). Its fields mirror libsinsp's own so that a
test can compare them event by event: evt.type, proc.name, proc.exe, fd.name, raw args."""

from __future__ import annotations

from typing import Any

from falco_plugin import ExtractEvent, ExtractPlugin, ParsePlugin, field
from falco_plugin.event import decode
from falco_plugin.tables import Entry, Field, Int64, Table, TablesInit, UInt8, UInt64


class Fd(Entry):
    name = Field(str)
    type = Field(UInt8)
    touched = Field(UInt64, add=True)


class Thread(Entry):
    comm = Field(str)
    exe = Field(str)
    pid = Field(Int64)
    parsed = Field(UInt64, add=True)
    fds = Field(Table(Fd, Int64), name="file_descriptors")


class SyscallInspector(ParsePlugin, ExtractPlugin):
    NAME = "syscall_inspector"
    VERSION = "1.0.0"
    DESCRIPTION = "Reads libsinsp's thread and fd state from a Python plugin"
    CONTACT = "tests"
    PARSE_EVENT_SOURCES = ["syscall"]
    EXTRACT_EVENT_SOURCES = ["syscall"]

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.threads = tables.import_table("threads", Int64, Thread)

    def make_context(self, event: ExtractEvent) -> Any:
        return decode(event.raw)

    @staticmethod
    def _arg(event: ExtractEvent, name: str) -> int | None:
        value = getattr(event.context.params, name, None)
        return None if value is None else int(value)

    def parse_event(self, event: ExtractEvent) -> None:
        thread = self.threads.get(event.tid)
        if thread is None:
            return
        thread.parsed += 1
        fd = self._arg(event, "fd")
        entry = thread.fds.get(fd) if fd is not None and fd >= 0 else None
        if entry is not None:
            entry.touched += 1

    @field("si.type")
    def type_name(self, event: ExtractEvent) -> str:
        """The event's name, as the SDK's event model gives it."""
        return event.context.name

    @field("si.comm")
    def comm(self, event: ExtractEvent) -> str | None:
        """The thread's command name, from the threads table."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.comm

    @field("si.exe")
    def exe(self, event: ExtractEvent) -> str | None:
        """The thread's executable, from the threads table."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.exe

    @field("si.fdname")
    def fd_name(self, event: ExtractEvent) -> str | None:
        """The name of the event's fd, from the thread's nested file_descriptors table."""
        fd = self._arg(event, "fd")
        thread = self.threads.get(event.tid)
        if fd is None or fd < 0 or thread is None:
            return None
        entry = thread.fds.get(fd)
        return None if entry is None else entry.name

    @field("si.fd")
    def fd(self, event: ExtractEvent) -> int | None:
        """The fd argument (raw)."""
        value = self._arg(event, "fd")
        return None if value is None or value < 0 else value

    @field("si.res")
    def res(self, event: ExtractEvent) -> int | None:
        """The res argument (raw)."""
        value = self._arg(event, "res")
        return None if value is None or value < 0 else value

    @field("si.parsed")
    def parsed(self, event: ExtractEvent) -> int | None:
        """Events of this thread this plugin parsed so far (a field it added)."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.parsed

    @field("si.touched")
    def touched(self, event: ExtractEvent) -> int | None:
        """Events that used the event's fd so far (a field added to the nested table)."""
        fd = self._arg(event, "fd")
        thread = self.threads.get(event.tid)
        entry = thread.fds.get(fd) if thread is not None and fd is not None and fd >= 0 else None
        return None if entry is None else entry.touched

    @field("si.nfds")
    def nfds(self, event: ExtractEvent) -> int | None:
        """Open fds of the thread, from the size of its nested table."""
        thread = self.threads.get(event.tid)
        return None if thread is None else len(thread.fds)
