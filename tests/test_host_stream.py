"""A raw event stream as the SDK host's "syscall" source (``--events``): how a capture replay
plugs into the host. The events go through the pipeline a plugin's events go through
(parsers, filter, fields); a per-event flag keeps parse-only events from the user, as
libsinsp keeps enter events it holds for their exit event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin.event import decode
from falco_plugin.host import HostCommand, PluginArgs, run_host
from falco_plugin.host.run import Output, execute
from falco_plugin.testing import parse_capture
from tests.plugins.syscall_source import CAT, SHELL, events

PLUGINS = Path(__file__).resolve().parent / "plugins"
T0 = 1_700_000_000 * 10**9
FIELDS = "si.type,si.comm,si.fdname,si.parsed,si.touched"
THREADS = [
    {"tid": SHELL, "pid": SHELL, "ptid": 1, "comm": "bash", "exe": "/usr/bin/bash"},
    {"tid": CAT, "pid": CAT, "ptid": SHELL, "comm": "cat", "exe": "/usr/bin/cat",
     "file_descriptors": [{"fd": 3, "name": "/etc/passwd", "type": 1},
                          {"fd": 4, "name": "10.0.0.5:40000->93.184.216.34:443", "type": 2}]},
]  # fmt: skip


@pytest.fixture(scope="module")
def inspector(falco_build: Callable[[str], Path]) -> Path:
    return falco_build(str(PLUGINS / "syscall_inspector.py"))


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "events.raw"
    path.write_bytes(b"".join(events(T0)))
    return path


def run(*args: str) -> Any:
    import json

    proc = run_host(["run", "--json", "--threads-fixture", json.dumps(THREADS), *args])
    return parse_capture(proc.returncode, proc.stdout, proc.stderr)


def test_a_stream_through_a_parser_and_an_extractor(stream: Path, inspector: Path) -> None:
    cap = run("--events", str(stream), "--fields", FIELDS, str(inspector))
    assert cap.ok, cap.error_message + cap.stderr
    raws = events(T0)
    assert len(cap.events) == len(raws)
    assert [e["ts"] for e in cap.events] == [T0 + n * 1000 for n in range(len(raws))]
    assert [e["source"] for e in cap.events] == ["syscall"] * len(raws)
    assert [bytes.fromhex(e["payload_hex"]) for e in cap.events] == raws  # the events as written
    types = [e["fields"]["si.type"] for e in cap.events]
    assert types == [decode(r).name for r in raws]
    opened = next(e for e in cap.events if e["fields"]["si.type"] == "openat")
    assert opened["fields"]["si.comm"] == "cat"
    assert opened["fields"]["si.fdname"] == "/etc/passwd"
    # the parser ran before extraction, on every event of the thread
    cat_parsed = [e["fields"]["si.parsed"] for e in cap.events if e["tid"] == CAT]
    assert cat_parsed == list(range(1, len(cat_parsed) + 1))
    summary = {s["plugin"]: s for s in cap.summaries}
    assert summary["events"]["events"] == len(raws) and summary["events"]["eof"] is True
    assert summary["syscall_inspector"]["parse_calls"] == len(raws)


def test_the_same_pipeline_as_a_plugin_source(
    stream: Path, inspector: Path, falco_build: Callable[[str], Path]
) -> None:
    """The stream and the plugin that emits the same events give the same fields."""
    source = falco_build(str(PLUGINS / "syscall_source.py"))
    from_stream = run("--events", str(stream), "--fields", FIELDS, str(inspector))
    from_plugin = run("--fields", FIELDS, str(source), str(inspector))
    assert from_stream.ok and from_plugin.ok, from_plugin.error_message
    assert from_stream.fields == from_plugin.fields


def test_parse_only_events_and_the_filter(stream: Path, inspector: Path) -> None:
    raws = events(T0)
    shown = bytes([0, 0] + [1] * (len(raws) - 2))  # the first two: parsed, not shown
    out: list[str] = []
    cmd = HostCommand(
        "run", [PluginArgs(str(inspector))], json=True, fields=["si.type", "si.parsed"],
        filter="si.comm = cat and evt.num > 3", threads_fixture=THREADS, events=str(stream),
        events_shown=shown,
    )  # fmt: skip
    rc = execute(cmd, Output(stdout=out.append, stderr=out.append))
    cap = parse_capture(rc, "\n".join(out), "")
    assert cap.ok, cap.error_message
    assert [e["evtnum"] for e in cap.events] == list(range(4, len(raws) + 1))
    assert cap.events[0]["fields"] == {"si.type": "execve", "si.parsed": 2}  # clone was parsed
    summary = {s["plugin"]: s for s in cap.summaries}
    assert summary["events"]["events"] == len(raws) - 2  # what the user got
    assert summary["syscall_inspector"]["parse_calls"] == len(raws)  # what was parsed
    assert summary["events"]["filtered_out"] == 1


def test_a_cut_stream_is_an_error(tmp_path: Path, inspector: Path) -> None:
    raws = events(T0)
    cut = tmp_path / "cut.raw"
    cut.write_bytes(raws[0] + raws[1][:-3])
    cap = run("--events", str(cut), str(inspector))
    assert cap.returncode == 1
    assert "is cut or malformed at byte" in cap.error_message and "(event 2)" in cap.error_message
    missing = run("--events", str(tmp_path / "nope.raw"), str(inspector))
    assert missing.returncode == 1 and "cannot read the event stream" in missing.error_message
