"""The tables API in plain Python: type specs, value checks, exported tables' API side."""

from __future__ import annotations

import pytest

from falco_plugin.tables import (
    Entry,
    ExportedEntry,
    ExportedTable,
    Field,
    Int8,
    Private,
    Public,
    ReadOnly,
    StateType,
    Table,
    TableError,
    UInt64,
    check_value,
    runtime_entry,
    state_type,
)


class Row(ExportedEntry):
    count = Public(UInt64)
    label = ReadOnly(str)
    secret = Private(str)


def test_state_types_and_checks() -> None:
    assert state_type(str) is StateType.STRING
    assert state_type(bool) is StateType.BOOL
    assert state_type(Table(Entry)) is StateType.TABLE
    with pytest.raises(TypeError, match="give integer fields a width"):
        state_type(int)
    assert check_value(Int8, -128, "x") == -128
    with pytest.raises(ValueError, match="does not fit INT8"):
        check_value(Int8, 128, "x")
    with pytest.raises(TypeError):
        check_value(StateType.STRING, "a\x00b", "x")
    with pytest.raises(TypeError):
        check_value(StateType.BOOL, 1, "x")


def test_entry_declarations() -> None:
    class Thread(Entry):
        comm = Field(str)
        seen = Field(UInt64, add=True)

    assert set(Thread.FIELDS) == {"comm", "seen"}
    assert Thread.FIELDS["seen"].add and Thread.FIELDS["comm"].name == "comm"
    dyn = runtime_entry("Dyn", {"pid": StateType.INT64, "x": Field(str, name="exe")})
    assert dyn.FIELDS["x"].name == "exe" and dyn.FIELDS["pid"].kind is StateType.INT64


def test_exported_table_api_side() -> None:
    table = ExportedTable("rows", UInt64, Row)
    table[1] = Row(count=3, label="one", secret="s")
    assert table.visible_fields() == [("count", UInt64, False), ("label", StateType.STRING, True)]
    assert table.api_field("count", int(UInt64), add=False)
    assert not table.api_field("count", int(StateType.STRING), add=False)  # wrong type
    assert not table.api_field("secret", int(StateType.STRING), add=True)  # private
    assert table.api_field("extra", int(StateType.BOOL), add=True)  # added by another plugin
    entry = table[1]
    assert table.api_read(entry, "extra") is False
    table.api_write(entry, "extra", True)
    table.api_write(entry, "count", 4)
    assert (entry.count, entry.extra["extra"]) == (4, True)
    with pytest.raises(TableError, match="read-only"):
        table.api_write(entry, "label", "changed")
    staged = table.api_create()
    table.api_add(2, staged)
    assert len(table) == 2 and table.get(2) is staged
    table.api_erase(2)
    assert 2 not in table
    with pytest.raises(ValueError):
        table[-1] = Row()
    with pytest.raises(TypeError, match="no field"):
        Row(nope=1)


class _Backend:
    """Just enough of a backend for entries made in Python."""

    def __init__(self) -> None:
        self.writes: list[tuple[int, int, object]] = []

    def read(self, table: int, entry: int, field: int, kind: int) -> object:
        return f"read {entry}/{field}"

    def write(self, table: int, entry: int, field: int, kind: int, value: object) -> None:
        self.writes.append((entry, field, value))

    def get_entry(self, table: int, key_type: int, key: object) -> int | None:
        return 7


def test_entries_hold_only_their_fields() -> None:
    from falco_plugin.tables import ImportedTable, Int64

    class Thread(Entry):
        comm = Field(str)
        seen = Field(UInt64, add=True)

    class Tagged(Thread):
        __slots__ = ("tag",)  # an entry class may still declare slots of its own

    backend = _Backend()
    table: ImportedTable[Thread] = ImportedTable(
        backend, 1, "threads", Int64, Thread, {"comm": 0, "seen": 1}, {}  # type: ignore[arg-type]
    )
    entry = table.get(42)
    assert entry is not None and entry.key == 42 and entry.comm == "read 7/0"
    assert not hasattr(entry, "__dict__") and Thread.__slots__ == ()
    entry.seen = 3  # a declared field: written through the backend
    assert backend.writes == [(7, 1, 3)]
    with pytest.raises(TypeError, match="expected an int"):
        entry.seen = "x"
    with pytest.raises(AttributeError, match=r"Thread has no field 'cache'.*Field\(\.\.\., add"):
        entry.cache = {}  # type: ignore[attr-defined]
    tagged = Tagged(table, 8, 1)
    tagged.tag = "mine"
    assert (tagged.tag, tagged.key, tagged.comm) == ("mine", 1, "read 8/0")
    dyn = runtime_entry("Dyn", {"pid": StateType.INT64})
    assert dyn.__slots__ == ()  # type: ignore[attr-defined]
