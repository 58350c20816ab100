"""Capture files against the real libsinsp (sinsp-example) and the real Falco.

- captures the SDK writes open in sinsp-example with the same events, byte for byte, and the
  same thread and fd fields as the SDK's process list and replay fixture say;
- old event layouts written by the SDK come out of libsinsp as the SDK's reader converts them;
- every older block version the SDK writes opens in libsinsp;
- Falco replays an SDK capture (``engine.kind: replay``) and fires rules on it;
- captures Falco writes (its ``capture`` feature, from a replayed capture and from a plugin
  source) read back in the SDK with the events sinsp-example shows.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from falco_plugin.event import Event, event_class
from falco_plugin.event.capture import (
    CaptureLayout,
    read_capture,
    write_capture,
)
from falco_plugin.event.raw import RawEvent
from falco_plugin.event.replay import replay_input
from falco_plugin.realhost import FalcoPlugin, FalcoRun, require, run_falco
from tests.capture_samples import (
    T0,
    current_events,
    interfaces,
    machine,
    old_events,
    plugin_events,
    threads,
    users,
    write_rich,
)
from tests.sinsp_oracle import raw_line, sinsp_json, sinsp_raw


@pytest.fixture(autouse=True)
def _needs_realhost() -> None:
    require()


def _shown_lines(path: Path) -> list[str]:
    """The SDK's view of what libsinsp shows, as sinsp-example's raw lines."""
    replay = replay_input(path)
    lines = []
    for section in replay.sections:
        for (offset, length), shown in zip(section.offsets(), section.shown, strict=True):
            if shown:
                raw = RawEvent.parse(section.events[offset : offset + length])
                lines.append(raw_line(raw))
    return lines


def test_sdk_capture_events_match_sinsp(tmp_path: Path) -> None:
    path = tmp_path / "rich.scap"
    write_rich(path)
    ours = _shown_lines(path)
    assert len(ours) == len(current_events()) - 1 + len(plugin_events())  # one is state-only
    assert sinsp_raw(path) == ours


#: Thread fields sinsp-example prints, and how the replay fixture (main thread) gives them.
_THREAD_FIELDS: dict[str, Any] = {
    "thread.tid": lambda t, m: t["tid"],
    "proc.pid": lambda t, m: t["pid"],
    "proc.name": lambda t, m: t["comm"],
    "proc.exe": lambda t, m: t["exe"],
    "proc.exepath": lambda t, m: t["exe_path"],
    "proc.args": lambda t, m: " ".join(t["args"]),
    "proc.cmdline": lambda t, m: " ".join([t["comm"], *t["args"]]),
    "proc.cwd": lambda t, m: m["cwd"],
    "proc.env": lambda t, m: " ".join(m["env"]) or None,
    "proc.sid": lambda t, m: t["sid"],
    "proc.vpgid": lambda t, m: t["vpgid"],
    "thread.vtid": lambda t, m: t["vtid"],
    "proc.vpid": lambda t, m: t["vpid"],
    "user.uid": lambda t, m: t["uid"],
    "group.gid": lambda t, m: t["gid"],
    "user.loginuid": lambda t, m: t["loginuid"],
    "proc.tty": lambda t, m: t["tty"],
    "proc.fdlimit": lambda t, m: t["fd_limit"],
    "proc.is_exe_writable": lambda t, m: t["exe_writable"],
    "proc.exe_ino": lambda t, m: t["exe_ino"] or None,
    "proc.is_exe_upper_layer": lambda t, m: t["exe_upper_layer"],
    "proc.is_exe_from_memfd": lambda t, m: t["exe_from_memfd"],
    "proc.pidns_init_start_ts": lambda t, m: t["pidns_init_start_ts"] or None,
}


def test_thread_and_fd_fields_match_sinsp(tmp_path: Path) -> None:
    """Each thread does a read on each of its fds: libsinsp's view of both matches the SDK's."""
    path = tmp_path / "threads.scap"
    replay_threads = {t.tid: t for t in threads()}
    events = []
    ts = T0
    for info in threads():
        owner = replay_threads[info.pid]
        for fd in owner.fds or [None]:
            ts += 1
            number = fd.fd if fd is not None else 99
            params = event_class("read", "<")(res=0, data=b"", fd=number, size=0)
            events.append(Event(params, ts=ts, tid=info.tid))
    write_capture(path, events, threads=threads(), machine_info=machine())
    fixture = {t["tid"]: t for t in replay_input(path).threads}
    fields = [*_THREAD_FIELDS, "fd.num", "fd.name", "fd.type", "fd.sip", "fd.sport", "fd.l4proto"]
    rows = sinsp_json(path, fields)
    assert len(rows) == len(events)
    checked_fds = 0
    for row in rows:
        thread = fixture[row["thread.tid"]]
        main = fixture[thread["pid"]]
        for name, expect in _THREAD_FIELDS.items():
            assert row[name] == expect(thread, main), (name, row)
        fds = {fd["fd"]: fd for fd in main["file_descriptors"]}
        if row["fd.num"] in fds:
            assert row["fd.name"] == fds[row["fd.num"]]["name"], row
            checked_fds += 1
    assert checked_fds == 2 * len(threads()[1].fds)  # both threads of the app process


def test_old_event_layouts_convert_like_libsinsp(tmp_path: Path) -> None:
    path = tmp_path / "old.scap"
    write_capture(path, old_events(), threads=threads())
    ours = _shown_lines(path)
    assert len(ours) == 11
    assert sinsp_raw(path) == ours
    cap = read_capture(path)
    assert cap.stats["converted"] == 13 and cap.stats["dropped"] == 6


@pytest.mark.parametrize(
    "layout",
    [CaptureLayout(proclist=v, fdlist=1 + (v > 4)) for v in range(1, 9)]
    + [CaptureLayout(interfaces=1, users=1, events=1)],
    ids=lambda lay: f"pl{lay.proclist}-fdl{lay.fdlist}-il{lay.interfaces}-ev{lay.events}",
)
def test_older_block_versions_open_in_sinsp(tmp_path: Path, layout: CaptureLayout) -> None:
    path = tmp_path / "old-blocks.scap"
    user_list, group_list = users()
    events = [
        Event(event_class("read", "<")(res=0, data=b"a", fd=3, size=1), ts=T0 + i, tid=t.tid)
        for i, t in enumerate(threads())
    ]
    write_capture(
        path,
        events,
        threads=threads(),
        interfaces=interfaces(),
        users=user_list,
        groups=group_list,
        layout=layout,
    )
    assert sinsp_raw(path) == _shown_lines(path)
    rows = sinsp_json(path, ["thread.tid", "proc.name", "proc.exe", "fd.name"])
    fixture = {t["tid"]: t for t in replay_input(path).threads}
    app_fds = {fd["fd"]: fd["name"] for fd in fixture[100]["file_descriptors"]}
    for row in rows:
        thread = fixture[row["thread.tid"]]
        assert (row["proc.name"], row["proc.exe"]) == (thread["comm"], thread["exe"])
        if thread["pid"] == 100:
            assert row["fd.name"] == app_fds[3] == "10.0.0.5:40000->93.184.216.34:443"


_OPEN_RULE = """
- rule: open seen
  desc: an open in a replayed capture
  condition: evt.type = open and evt.dir = <
  output: "open %fd.name by %proc.name (%proc.cmdline) tid=%thread.tid user=%user.name"
  priority: WARNING
"""


def _replay(path: Path, rules: str, *options: str) -> FalcoRun:
    """Falco replaying a capture: the replay engine feeds the syscall source."""
    run = run_falco(
        [],
        rules,
        options=[
            "-o", "engine.kind=replay",
            "-o", f"engine.replay.capture_file={path}",
            "--enable-source", "syscall",
            *options,
        ],
    )  # fmt: skip
    assert run.ok, run.error
    return run


def _capture_options(prefix: Path) -> list[str]:
    """Falco's capture feature on, from the first alert on, into ``prefix_*.scap``."""
    return [
        "-o", "capture.enabled=true",
        "-o", f"capture.path_prefix={prefix}",
        "-o", "capture.mode=all_rules",
        "-o", "capture.default_duration=60000",
    ]  # fmt: skip


def test_falco_replays_an_sdk_capture(tmp_path: Path) -> None:
    path = tmp_path / "replay.scap"
    user_list, group_list = users()
    events = [e for e, _, _ in current_events()] + old_events()[2:4]
    write_capture(path, events, threads=threads(), users=user_list, groups=group_list)
    found = _replay(path, _OPEN_RULE).alerts
    fields = [a["output_fields"] for a in found]
    assert [a["rule"] for a in found] == ["open seen", "open seen"]
    assert fields[0]["fd.name"] == "/etc/hosts" and fields[0]["proc.name"] == "app"
    assert fields[0]["proc.cmdline"] == "app --serve --port=8080"
    assert fields[0]["user.name"] == "alice" and fields[0]["thread.tid"] == 100
    assert fields[1]["evt.time"] == T0 + 4  # the converted old-layout open


def test_falco_writes_captures_the_sdk_reads(tmp_path: Path) -> None:
    source = tmp_path / "source.scap"
    write_capture(source, [e for e, _, _ in current_events()], threads=threads())
    rule = """
- rule: every event
  desc: starts Falco's capture at the first event
  condition: evt.num > 0
  output: "%evt.type"
  priority: INFO
"""
    _replay(source, rule, *_capture_options(tmp_path / "falco"))
    (written,) = sorted(tmp_path.glob("falco_*.scap"))
    assert written.read_bytes()[:2] == b"\x1f\x8b"  # Falco compresses its captures
    cap = read_capture(written)
    assert sinsp_raw(written) == _shown_lines(written)
    ours = {e.tobytes() for e in read_capture(source).events}
    assert ours <= {e.tobytes() for e in cap.events}
    falco_threads = {t.tid: t for t in cap.threads}
    for info in threads():
        got = falco_threads[info.tid]
        assert (got.comm, got.exe, got.exepath, got.args) == (
            info.comm,
            info.exe,
            info.exepath,
            info.args,
        )
    assert {fd.fd for fd in falco_threads[100].fds} >= {fd.fd for fd in threads()[1].fds}


def test_falco_captures_plugin_events_the_sdk_reads(tmp_path: Path) -> None:
    prefix = require()
    rule = """
- rule: dummy seen
  desc: every event of the dummy source
  condition: dummy.value > 0
  output: "v=%dummy.value"
  priority: INFO
  source: dummy_c
"""
    plugin = FalcoPlugin(
        prefix / "out" / "libdummy_c_O2.so", {"jitter": 0}, json.dumps({"start": 1, "maxEvents": 5})
    )
    run = run_falco([plugin], rule, options=_capture_options(tmp_path / "falco"))
    assert run.ok and len(run.alerts) == 5, run.error
    (written,) = sorted(tmp_path.glob("falco_*.scap"))
    cap = read_capture(written)
    payloads = [e.decode().params.event_data for e in cap.events]
    assert [int.from_bytes(p, "little") for p in payloads] == [2, 3, 4, 5, 6]
    assert sinsp_raw(written) == _shown_lines(written)
    assert cap.machine_info is not None and cap.machine_info.num_cpus > 0


def test_sdk_reads_its_capture_through_a_file_object(tmp_path: Path) -> None:
    """The gzip a writer produces opens in libsinsp too."""
    path = tmp_path / "zipped.scap"
    with path.open("wb") as handle:
        write_capture(handle, [e for e, _, _ in current_events()], threads=threads(),
                      compress=True)  # fmt: skip
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert sinsp_raw(path) == _shown_lines(path)
    assert read_capture(io.BytesIO(path.read_bytes())).stats["events"] == 13
