"""State tables and event parsing through the C host: a parser writing the host's threads
table (added fields, nested tables) and a table it exports, another plugin importing that
table, the access rules, and init failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_plugin.testing import plugin_args, run_capture

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="module")
def libs(falco_build) -> dict[str, Path]:
    names = ["table_owner", "table_reader", "table_wrongkey"]
    out = {n: falco_build(str(PLUGINS / f"{n}.py")) for n in names}
    out["countdown"] = falco_build(str(ROOT / "examples" / "countdown" / "plugin.py"))
    return out


def run(libs: dict[str, Path], *names: str, fields: list[str], extra: list[str] | None = None):
    plugins = [plugin_args(libs["countdown"], open_params="6")]
    plugins += [plugin_args(libs[n]) for n in names]
    return run_capture(plugins, fields=fields, options=["--thread-tid", "1", *(extra or [])])


def tables_of(cap) -> dict[str, dict]:
    out = {}
    for line in cap.stdout.splitlines():
        record = json.loads(line)
        if "table" in record:
            out[record["table"]["name"]] = record["table"]
    return out


def test_parse_writes_added_and_nested_fields(libs) -> None:
    cap = run(
        libs,
        "table_owner",
        fields=["owner.seen", "owner.fd_marks"],
        extra=["--dump-table", "threads"],
    )
    assert cap.ok, cap.error_message + cap.stderr
    # parse runs before extraction for each event: the counts go 1..6
    assert [f["owner.seen"] for f in cap.fields] == [1, 2, 3, 4, 5, 6]
    # a field added to the nested file_descriptors table, written for each of tid 1's fds
    assert [f["owner.fd_marks"] for f in cap.fields] == [[k] * 3 for k in range(1, 7)]
    thread = tables_of(cap)["threads"]["entries"][0]
    assert thread["fields"]["seen"] == 6  # the host's table holds the added field
    assert cap.summaries[1]["parse_failures"] == 0
    assert all(s.get("entry_leaks", 0) == 0 for s in cap.summaries)


def test_exported_table_read_by_another_plugin(libs) -> None:
    cap = run(
        libs,
        "table_owner",
        "table_reader",
        fields=[
            "reader.count[0]",
            "reader.label[2]",
            "reader.size",
            "reader.listed",
            "reader.count[100]",
            "reader.readonly_write",
            "reader.hits[0]",
            "reader.notes[0]",
        ],
        extra=["--dump-table", "counters"],
    )
    assert cap.ok, cap.error_message + cap.stderr
    # remaining goes 5,4,3,2,1,0: after each event, counts per remaining % 3
    assert [f["reader.count[0]"] for f in cap.fields] == [None, None, 1, 1, 1, 2]
    assert [f["reader.label[2]"] for f in cap.fields] == ["mod 2"] * 6
    assert [f["reader.size"] for f in cap.fields] == [2, 3, 4, 4, 4, 4]  # + the reader's key 100
    # the reader added key 100 through the API and adds 10 per event
    assert [f["reader.count[100]"] for f in cap.fields] == [10, 20, 30, 40, 50, 60]
    assert cap.fields[0]["reader.readonly_write"] == "TableError"
    # nested tables of an exported table, read through the API (remaining 3 and 0 -> key 0)
    assert [f["reader.hits[0]"] for f in cap.fields] == [None, None, [3], [3], [3], [3, 6]]
    # a field this reader added to the nested table, written in its parse_event
    assert cap.fields[-1]["reader.notes[0]"] == ["seen 3", "seen 6"]
    # the private field is hidden; the nested table is listed
    assert cap.fields[0]["reader.listed"] == ["count", "hits", "label"]
    table = tables_of(cap)["counters"]
    assert table["owner"] == "table_owner"
    assert sorted((e["fields"]["label"], e["fields"]["count"]) for e in table["entries"]) == [
        ("", 60),  # the reader's entry: its label stayed the default
        ("mod 0", 2),
        ("mod 1", 2),
        ("mod 2", 2),
    ]


def test_handles_outside_their_call_and_writes_in_extract(libs) -> None:
    cap = run(libs, "table_owner", fields=["owner.stale", "owner.write_in_extract"])
    assert cap.ok, cap.error_message + cap.stderr
    stale = cap.fields[0]["owner.stale"]
    assert stale.startswith("TableError: this table entry is no longer valid"), stale
    assert cap.fields[0]["owner.write_in_extract"] == "TableError"


def test_lookups_and_entries_of_imported_tables(libs) -> None:
    # the shim's backend does lookups and field reads in C: same errors, same entry classes
    cap = run(libs, "table_owner", fields=["owner.key_checks", "owner.entry_kind"])
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.fields[0]["owner.key_checks"] == [
        "TypeError: key of table 'threads': expected an int, got str",
        f"ValueError: key of table 'threads': {2**63} does not fit INT64",
        "TypeError: key of table 'threads': expected an int, got bool",
        "TypeError: key of table 'threads': expected an int, got float",
    ]
    assert cap.fields[0]["owner.entry_kind"] == [
        "True",
        "Thread",
        "Field",
        "True",
        "TypeError: a field of Thread read on a object",
        "False",  # entries have __slots__, no __dict__
        "AttributeError: Thread has no field 'scratch': an entry of an imported table holds "
        "only the Fields its class declares (add one with scratch = Field(..., add=True), or "
        "keep the value on the plugin)",
        "True",
    ]


def test_an_entry_given_again_shows_nothing_of_the_dropped_one(libs) -> None:
    # the C lookup fills the entry the plugin dropped again only when no one can tell: not
    # for a class with slots of its own, weak references or a finalizer, nor an entry
    # whose class the plugin changed
    cap = run(libs, "table_owner", fields=["owner.entry_state"])
    assert cap.ok, cap.error_message + cap.stderr
    for got in cap.field_values("owner.entry_state"):
        assert got == ["unset", "True", "True", "Thread:True"], got


def test_a_handle_the_plugin_overwrote_fails_the_same_in_c(libs) -> None:
    # a field read in C on an entry whose _handle is not one the SDK made raises what the
    # Python Field raises: no handle of this call (TableError), not an int (TypeError)
    cap = run(libs, "table_owner", fields=["owner.bad_handles"])
    assert cap.ok, cap.error_message + cap.stderr
    for got in cap.field_values("owner.bad_handles"):
        assert len(got) == 4 and "|" not in "".join(got), got
        assert [g.split(":")[0] for g in got] == ["TableError", "TableError", "TypeError",
                                                 "TableError"], got  # fmt: skip


def test_the_c_lookup_is_a_method_of_the_tables_class(libs) -> None:
    cap = run(libs, "table_owner", fields=["owner.get_forms"])
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.fields[0]["owner.get_forms"] == ["ImportedTable", "True"] + ["True:True"] * 4


def test_entry_fields_are_read_by_name_in_c_until_the_class_changes(libs) -> None:
    cap = run(libs, "table_owner", fields=["owner.seen", "owner.fast_reads"])
    assert cap.ok, cap.error_message + cap.stderr
    first = cap.fields[0]
    seen = str(first["owner.seen"])
    # both fields by name in C, values the same by every path; after a change, none in C
    assert first["owner.fast_reads"] == ["comm,seen", "True", seen, "", "True", seen]
    for later in cap.fields[1:]:
        assert later["owner.fast_reads"][3:] == ["", "True", str(later["owner.seen"])]


def test_wrong_key_type_fails_init(libs, any_host) -> None:
    countdown = plugin_args(libs["countdown"], open_params="2")
    cap = run_capture([countdown, plugin_args(libs["table_wrongkey"])], host=any_host)
    assert cap.returncode != 0
    # the plugin and the types by name, and what the host has instead (issue 10, item 9)
    message = cap.error_message
    assert "plugin table_wrongkey: no table 'threads' with uint64 keys" in message, message
    assert "the host has: threads (int64)" in message, message


def test_a_table_with_str_keys_is_imported_with_str(falco_build, any_host) -> None:
    """import_table(name, str, ...) as export_table(name, str, ...) (issue 10, item 9)."""
    countdown = falco_build(str(ROOT / "examples" / "countdown" / "plugin.py"))
    lib = falco_build(str(PLUGINS / "table_strkey.py"))
    cap = run_capture(
        [plugin_args(countdown, open_params="2"), plugin_args(lib)],
        fields=["strkey.age[ada]", "strkey.age[bob]", "strkey.fields"],
        host=any_host,
    )
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.fields[0] == {"strkey.age[ada]": 36, "strkey.age[bob]": None,
                             "strkey.fields": ["age"]}  # fmt: skip


def test_source_only_plugins_get_no_tables(libs) -> None:
    # countdown takes no tables parameter; the host passes NULL tables to source-only
    # plugins and the SDK must not need them
    assert run_capture(libs["countdown"], open_params="2").ok
