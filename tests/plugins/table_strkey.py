"""Exports a table keyed by strings and imports it back by name with `str` as the key type,
as another plugin would (the key type given as `str`, like export_table takes it)."""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.tables import Entry, ExportedEntry, Field, Public, TablesInit, UInt64


class Person(ExportedEntry):
    age = Public(UInt64)


class PersonView(Entry):
    age = Field(UInt64)


class StrKeyed(ExtractPlugin):
    NAME = "table_strkey"
    VERSION = "1.0.0"
    DESCRIPTION = "A table with string keys"
    CONTACT = "tests"

    def __init__(self, config: str, tables: TablesInit) -> None:
        people = tables.export_table("people", str, Person)
        people["ada"] = Person(age=36)
        self.people = tables.import_table("people", str, PersonView)
        self.fields_seen = sorted(name for name, _, _ in tables.fields("people", str))

    @field("strkey.age")
    def age(self, event: ExtractEvent, name: str) -> int | None:
        """The age of a person, read through the tables API."""
        entry = self.people.get(name)
        return None if entry is None else entry.age

    @field("strkey.fields")
    def listed(self, event: ExtractEvent) -> list[str]:
        """The fields of the table."""
        return self.fields_seen
