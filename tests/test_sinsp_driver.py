"""fp-sinsp, the libsinsp test driver: its build, its command line, and the reference plugins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_plugin.sinsp import SinspBuildError, driver_binary, run_driver
from falco_plugin.testing import parse_capture, plugin_args, run_capture


def test_help_and_usage_errors(falco_realhost: Path) -> None:
    proc = run_driver(["--help"])
    assert proc.returncode == 0 and "--thread-pool N" in proc.stdout
    for args, message in (
        (["--frobnicate", "x.so"], "unknown option --frobnicate"),
        (["--max-events", "ten", "x.so"], "--max-events needs an unsigned integer"),
        ([], "no plugin and no --capture"),
        (["x.so", "--colour", "red"], "unknown plugin option --colour"),
    ):
        proc = run_driver(args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)


def test_errors_are_json_records(falco_realhost: Path, tmp_path: Path) -> None:
    cap = parse_capture(*_run(["--capture", str(tmp_path / "none.scap")]), host="sinsp")
    assert cap.returncode == 1 and [e["stage"] for e in cap.errors] == ["capture"]
    cap = parse_capture(*_run([str(tmp_path / "libnothing.so")]), host="sinsp")
    assert cap.returncode == 1 and [e["stage"] for e in cap.errors] == ["load"]


def _run(args: list[str]) -> tuple[int, str, str]:
    proc = run_driver(args)
    return proc.returncode, proc.stdout, proc.stderr


def test_the_cpp_and_go_reference_plugins(falco_realhost: Path) -> None:
    """The official dummy plugins through the driver: what libsinsp itself gives."""
    for name in ("libdummy_c_O2.so", "libdummy_go.so"):
        plugin = plugin_args(falco_realhost / "out" / name, '{"jitter": 0}',
                             '{"start": 1, "maxEvents": 5}')  # fmt: skip
        cap = run_capture([plugin], fields=["dummy.value", "dummy.strvalue"], host="sinsp")
        assert cap.ok, cap.error_message
        assert cap.field_values("dummy.value") == [2, 3, 4, 5, 6], name
        assert cap.field_values("dummy.strvalue") == ["2", "3", "4", "5", "6"], name


def test_libsinsp_threads_table_is_dumped(falco_realhost: Path, falco_build, root: Path) -> None:
    lib = falco_build(str(root / "examples" / "countdown" / "plugin.py"))
    cap = run_capture(lib, open_params="1", dump_tables=["threads", "nosuch"], host="sinsp")
    table = cap.tables["threads"]
    assert table["key_type"] == "int64"
    fields = {f["name"]: f["type"] for f in table["fields"]}
    assert fields["comm"] == "string" and fields["file_descriptors"] == "table"
    assert [e["stage"] for e in cap.errors] == ["dump_table"]  # no table "nosuch"


def test_tables_are_listed(falco_realhost: Path, falco_build, root: Path) -> None:
    lib = falco_build(str(root / "tests" / "plugins" / "table_owner.py"))
    source = falco_build(str(root / "examples" / "countdown" / "plugin.py"))
    proc = run_driver(["--list-tables", str(source), "--open-params", "1", str(lib)])
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    (listed,) = [r["tables"] for r in records if "tables" in r]
    tables = {t["name"]: t["key_type"] for t in listed}
    assert tables["threads"] == "int64" and tables["counters"] == "uint64"  # the plugin's own


def test_no_libsinsp_development_files_is_a_clear_error(
    falco_realhost: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PKG_CONFIG_PATH", str(tmp_path))
    monkeypatch.setenv("PKG_CONFIG_LIBDIR", str(tmp_path))
    with pytest.raises(SinspBuildError, match="pkg-config finds no libsinsp"):
        driver_binary(tmp_path)  # a "prefix" without lib/pkgconfig/libsinsp.pc


def test_output_is_one_json_object_per_line(falco_realhost: Path, falco_build, root) -> None:
    lib = falco_build(str(root / "examples" / "countdown" / "plugin.py"))
    proc = run_driver([str(lib), "--open-params", "2"])
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [next(iter(r)) if len(r) == 1 else "event" for r in records] == [
        "event", "event", "progress", "metrics", "summary"
    ]  # fmt: skip


def test_bench_mode_times_extractions_and_starts(falco_realhost: Path) -> None:
    """--bench: no event lines; per field the calls, values and time of its extraction on
    every event, the read loop's time, and each plugin's start (time, RSS before/after)."""
    dummy = falco_realhost / "out" / "libdummy_c_O2.so"
    proc = run_driver(["--bench", "--field", "dummy.value", "--field", "dummy.strvalue",
                       str(dummy), "--open-params", '{"start": 1, "maxEvents": 50}'])  # fmt: skip
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and not any("evtnum" in r for r in records), proc.stderr
    (summary,) = [r["summary"] for r in records if "summary" in r]
    bench = summary["bench"]
    for name in ("dummy.value", "dummy.strvalue"):
        timing = bench["fields"][name]
        assert (timing["calls"], timing["values"]) == (50, 50)
        assert timing["ns"] > 0 and timing["ns_per_call"] > 0
    assert bench["loop_ns"] > bench["fields"]["dummy.value"]["ns"]
    start = bench["plugins"]["dummy_c"]
    assert start["start_ns"] > 0 and start["rss_kb_after"] >= start["rss_kb_before"] > 0
