"""Parses events into a table it exports, and into fields it adds to the host's threads
table (and to each thread's nested file_descriptors table)."""

from __future__ import annotations

import weakref

from falco_plugin import ExtractEvent, ExtractPlugin, ParsePlugin, field
from falco_plugin.tables import (
    Entry,
    ExportedEntry,
    Field,
    ImportedTable,
    Int64,
    Nested,
    Private,
    Public,
    ReadOnly,
    Table,
    TablesInit,
    UInt64,
)


class Fd(Entry):
    name = Field(str)
    marks = Field(UInt64, add=True)  # a field this plugin adds to the nested table


class Thread(Entry):
    comm = Field(str)
    seen = Field(UInt64, add=True)
    fds = Field(Table(Fd), name="file_descriptors")


class Probe(Entry):
    """A second entry class on threads: its class is changed by owner.fast_reads."""

    comm = Field(str)
    seen = Field(UInt64, name="seen")


class Marked(Entry):
    """Threads, with a slot of the plugin's own (owner.entry_state)."""

    __slots__ = ("mark",)
    comm = Field(str)


class Watched(Entry):
    """Threads, with weak references to entries (owner.entry_state)."""

    __slots__ = ("__weakref__",)
    comm = Field(str)


DROPPED: list[int] = []  # the keys of the Counted entries finalized


class Counted(Entry):
    """Threads, with a finalizer (owner.entry_state)."""

    comm = Field(str)

    def __del__(self) -> None:
        DROPPED.append(self.key)


class Renamed(Entry):
    """What an entry of threads is turned into by owner.entry_state."""

    comm = Field(str)


class Hit(ExportedEntry):
    evtnum = Public(UInt64)


class Counter(ExportedEntry):
    count = Public(UInt64)
    label = ReadOnly(str)
    secret = Private(str)
    hits = Nested(Hit, UInt64)  # a table per entry: the events counted there


class TableOwner(ParsePlugin, ExtractPlugin):
    NAME = "table_owner"
    VERSION = "1.0.0"
    DESCRIPTION = "Writes tables in parse_event"
    CONTACT = "tests"
    PARSE_EVENT_SOURCES = ["countdown"]
    EXTRACT_EVENT_SOURCES = ["countdown"]

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.threads = tables.import_table("threads", Int64, Thread)
        self.probes = tables.import_table("threads", Int64, Probe)
        self.marked = tables.import_table("threads", Int64, Marked)
        self.watched = tables.import_table("threads", Int64, Watched)
        self.counted = tables.import_table("threads", Int64, Counted)
        self.counters = tables.export_table("counters", UInt64, Counter)
        self.fd_count = 0
        self.init_tables = [name for name, _ in tables.list_tables()]
        self.kept = None

    def parse_event(self, event: ExtractEvent) -> None:
        remaining = int(event.payload.split(b" ", 1)[0])
        entry = self.counters.get(remaining % 3)
        if entry is None:
            self.counters[remaining % 3] = entry = Counter(label=f"mod {remaining % 3}")
        entry.count += 1
        entry.hits[event.evtnum] = Hit(evtnum=event.evtnum)
        thread = self.threads.get(event.tid)
        if thread is None:
            return
        thread.seen += 1
        fds = thread.fds
        self.fd_count = len(fds)
        fds.each(self._mark)
        self.kept = thread  # kept past the call on purpose: using it later must fail

    @staticmethod
    def _mark(fd: Fd) -> None:
        fd.marks += 1

    @field("owner.seen")
    def seen(self, event: ExtractEvent) -> int | None:
        """How many events of this thread were parsed."""
        thread = self.threads.get(event.tid)
        return None if thread is None else thread.seen

    @field("owner.fd_marks")
    def fd_marks(self, event: ExtractEvent) -> list[int]:
        """The marks of every fd of the thread."""
        thread = self.threads.get(event.tid)
        marks: list[int] = []
        if thread is not None:
            thread.fds.each(lambda fd: marks.append(fd.marks))
        return marks

    @field("owner.stale")
    def stale(self, event: ExtractEvent) -> str:
        """What happens when an entry from an earlier call is used."""
        try:
            return str(self.kept.seen)  # type: ignore[union-attr]
        except Exception as exc:
            return type(exc).__name__ + ": " + str(exc)

    @field("owner.write_in_extract")
    def write_in_extract(self, event: ExtractEvent) -> str:
        """Writing during extraction is refused."""
        thread = self.threads.get(event.tid)
        try:
            thread.seen = 99  # type: ignore[union-attr]
            return "written"
        except Exception as exc:
            return type(exc).__name__

    @field("owner.key_checks")
    def key_checks(self, event: ExtractEvent) -> list[str]:
        """What looking the threads table up with keys it cannot take raises."""
        out = []
        for key in ("7", 2**63, True, 1.0):
            try:
                self.threads.get(key)
                out.append("no error")
            except Exception as exc:
                out.append(f"{type(exc).__name__}: {exc}")
        return out

    @field("owner.get_forms")
    def get_forms(self, event: ExtractEvent) -> list[str]:
        """The C lookup called each way a method can be: bound, from the class, with a
        keyword (the Python path), as ImportedTable.get; each entry's comm read in C and
        through the Python Field."""
        table = self.threads
        tid = event.tid
        out = [type(table).__name__, str(isinstance(table, ImportedTable))]
        bound = table.get
        for got in (bound(tid), type(table).get(table, tid), table.get(key=tid),
                    ImportedTable.get(table, tid)):  # fmt: skip
            python_comm = vars(Thread)["comm"].__get__(got, type(got))
            out.append("none" if got is None else f"{got.key == tid}:{got.comm == python_comm}")
        return out

    @field("owner.fast_reads")
    def fast_reads(self, event: ExtractEvent) -> list[str]:
        """The fields an entry reads by name in C, the same values whatever the path, and
        the generic lookup once the entry class is changed."""
        probe = self.probes.get(event.tid)
        if probe is None:
            return []
        cls = type(probe)
        fast_fields = self.probes._backend._fast_fields
        spelled = "".join(["co", "mm"])  # a name no code holds: not interned, generic lookup

        def state() -> list[str]:
            python_comm = vars(Probe)["comm"].__get__(probe, cls)
            same = probe.comm == getattr(probe, spelled) == python_comm != ""
            return [",".join(sorted(fast_fields(cls))), str(same), str(probe.seen)]

        before = state()
        cls.changed = True  # type: ignore[attr-defined]  # a new version of the class
        return [*before, *state()]

    @field("owner.entry_state")
    def entry_state(self, event: ExtractEvent) -> list[str]:
        """An entry the plugin dropped, looked up again: nothing of the dropped one shows
        through the new one (a slot of the plugin's own, a weak reference, its finalizer,
        a class it was given)."""
        tid = event.tid
        marked = self.marked.get(tid)
        if marked is None:
            return []
        marked.mark = "set on the dropped entry"
        del marked
        again = self.marked.get(tid)
        mark = getattr(again, "mark", "unset")
        watched = weakref.ref(self.watched.get(tid))  # type: ignore[arg-type]
        other = self.watched.get(tid)
        DROPPED.clear()
        self.counted.get(tid)
        self.counted.get(tid)
        finalized = list(DROPPED)
        thread = self.threads.get(tid)
        cls = type(thread)
        object.__setattr__(thread, "__class__", Renamed)
        del thread
        renamed = self.threads.get(tid)
        return [
            mark,
            str(watched() is None and other is not None and other.key == tid),
            str(finalized == [tid, tid]),
            f"{type(renamed).__name__}:{type(renamed) is cls}",
        ]

    @field("owner.bad_handles")
    def bad_handles(self, event: ExtractEvent) -> list[str]:
        """An entry whose handle the plugin overwrote: its field read in C fails as the
        Python Field's does (what fails, and how, for each kind of wrong handle)."""
        kept = self.threads.get(event.tid)  # another entry: the one below is not the last
        entry = self.threads.get(event.tid)
        if kept is None or entry is None:
            return []
        out = []
        for bad in (-5, 2**70, "x", 2**63):
            object.__setattr__(entry, "_handle", bad)
            results = []
            for read in (lambda: entry.comm, lambda: vars(Thread)["comm"].__get__(entry, Thread)):
                try:
                    results.append(f"no error: {read()!r}")
                except Exception as exc:
                    results.append(f"{type(exc).__name__}: {exc}")
            out.append(results[1] if results[0] == results[1] else f"{results[0]} | {results[1]}")
        return out

    @field("owner.entry_kind")
    def entry_kind(self, event: ExtractEvent) -> list[str]:
        """What an entry of the threads table is."""
        thread = self.threads.get(event.tid)
        if thread is None:
            return []
        cls = type(thread)
        try:
            vars(cls)["comm"].__get__(object(), object)
            misuse = "no error"
        except TypeError as exc:
            misuse = f"TypeError: {exc}"
        try:
            thread.scratch = 1  # type: ignore[attr-defined]
            undeclared = "no error"
        except AttributeError as exc:
            undeclared = f"AttributeError: {exc}"
        # an entry the plugin dropped is made again in place; one it keeps stays as it was
        dropped = id(self.threads.get(event.tid))
        reused = self.threads.get(event.tid)
        again = self.threads.get(event.tid)
        return [
            str(isinstance(thread, Thread)),
            cls.__name__,
            type(cls.comm).__name__,
            str(thread.key == event.tid),
            misuse,
            str(hasattr(thread, "__dict__")),
            undeclared,
            str(id(reused) == dropped and again is not reused and reused.key == event.tid),
        ]
