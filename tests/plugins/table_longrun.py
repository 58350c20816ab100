"""Reads the threads table (an entry, its nested file_descriptors table, an iteration) in
every extract call, as a plugin does for months in Falco; the config seeds the count of
calls already made (the SDK's test hook), so a test crosses any boundary of the handles."""

from __future__ import annotations

import dataclasses

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.tables import Entry, Field, Int64, Table, TablesInit


class Fd(Entry):
    name = Field(str)


class Thread(Entry):
    comm = Field(str)
    fds = Field(Table(Fd), name="file_descriptors")


@dataclasses.dataclass
class Config:
    calls_made: int = 0  # seeds the handle generation: as if this many calls were made


class TableLongRun(ExtractPlugin):
    NAME = "table_longrun"
    VERSION = "1.0.0"
    DESCRIPTION = "Table reads after any number of calls"
    CONTACT = "tests"

    def __init__(self, config: Config, tables: TablesInit) -> None:
        self.threads = tables.import_table("threads", Int64, Thread)
        self.backend = tables._backend
        self.backend._seed_generation(config.calls_made)
        self.kept: list[object] = []

    @field("long.comm")
    def comm(self, event: ExtractEvent) -> str | None:
        """The comm of the event's thread (an entry of this call)."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.comm

    @field("long.fds")
    def fds(self, event: ExtractEvent) -> list[str]:
        """The fd names of the event's thread (a nested table read, then iterated)."""
        thread = self.threads.get(event.tid)
        names: list[str] = []
        if thread is not None:
            thread.fds.each(lambda fd: names.append(fd.name))
        return names

    @field("long.handles")
    def handles(self, event: ExtractEvent) -> int:
        """The handles this call holds after iterating the thread's file descriptors."""
        thread = self.threads.get(event.tid)
        if thread is not None:
            thread.fds.each(lambda fd: None)
        return int(self.backend._handles_in_call())

    @field("long.stale")
    def stale(self, event: ExtractEvent) -> str:
        """Whether an entry and a nested table kept from the previous call are refused."""
        kept, self.kept = self.kept, []
        thread = self.threads.get(event.tid)
        if thread is not None:
            self.kept = [thread, thread.fds]
        if not kept:
            return "none kept"
        outcomes = []
        for use in (lambda: kept[0].comm, lambda: len(kept[1])):  # type: ignore[attr-defined]
            try:
                use()
                outcomes.append("accepted")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        return ",".join(outcomes)
