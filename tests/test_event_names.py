"""Events are named as libsinsp's evt.type names them: generic syscall events by their ID
parameter, async events by their own name."""

from __future__ import annotations

import json
from pathlib import Path

from falco_plugin.event import Event, SyscallId, async_event, decode, event_class
from falco_plugin.event._generated import PPM_SC_NAMES
from falco_plugin.event.capture import CaptureWriter, ThreadInfo
from falco_plugin.sinsp import run_driver

GENERIC_E, GENERIC_X = event_class("PPME_GENERIC_E"), event_class("PPME_GENERIC_X")
T0 = 1_700_000_000_000_000_000


def test_names_in_every_form() -> None:
    event = Event(GENERIC_X(ID_=75, nativeID=10), ts=1, tid=2)
    assert event.name == "mprotect"
    assert event.to_text() == "< mprotect ID=75(mprotect) nativeID=10"
    assert event.to_json()["name"] == "mprotect"
    back = decode(event.encode())
    assert back.name == "mprotect" and back.params.ID_ == SyscallId(75)
    assert back.params.ID_.name == "mprotect"
    assert Event(GENERIC_E(ID_=176, nativeID=228)).to_text().startswith("> clock_gettime ")


def test_async_events_are_named_by_their_name() -> None:
    event = async_event("heartbeat", b"{}", plugin_id=7)
    assert event.name == "heartbeat"  # what evt.type shows (Falco rules: evt.type = heartbeat)
    assert event.to_text() == "> heartbeat plugin_id=7 name=heartbeat data={}"
    assert event.to_json()["name"] == "heartbeat"


def test_unknown_and_missing_codes() -> None:
    assert SyscallId(0).name == "unknown"
    assert SyscallId(len(PPM_SC_NAMES)).name is None
    assert Event(GENERIC_X(ID_=len(PPM_SC_NAMES), nativeID=1)).name == "unknown"
    assert Event(GENERIC_X(), nparams=0).name == "syscall"  # no ID to name it by
    # a code libscap leaves unnamed: evt.type is empty, the text form says "syscall"
    unnamed = Event(GENERIC_X(ID_=382, nativeID=1))
    assert (unnamed.name, SyscallId(382).name) == ("", None)
    assert unnamed.to_text() == "< syscall ID=382 nativeID=1"
    assert Event(event_class("open", "<")(fd=3)).name == "open"  # other events keep theirs


def test_every_code_is_named_as_libsinsp_names_it(falco_realhost: Path, tmp_path: Path) -> None:
    path = tmp_path / "generic.scap"
    events = [Event(GENERIC_X(ID_=code, nativeID=code + 1000), ts=T0 + code, tid=100)
              for code in range(len(PPM_SC_NAMES))]  # fmt: skip
    with CaptureWriter(path, threads=[ThreadInfo(tid=100, pid=100, comm="app")]) as writer:
        for event in events:
            writer.write(event)
    proc = run_driver(["--capture", str(path), "--field", "evt.type", "--field", "evt.arg.ID"])
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    seen = [r["fields"] for r in records if "fields" in r]
    assert proc.returncode == 0 and len(seen) == len(events), proc.stderr[-2000:]
    for code, (event, fields) in enumerate(zip(events, seen, strict=True)):
        # the argument shows the code itself when it has no name
        assert fields == {"evt.type": event.name, "evt.arg.ID": event.name or str(code)}
