"""batch.add_event refuses what the host could not take, and takes every valid event.

A syscall source (tests/plugins/syscall_checked.py, no plugin id) offers the host events of
every kind libsinsp mishandles (a generic event beyond the syscall table crashed it with
SIGSEGV, an empty fd made Falco stop, ...) between valid ones. Each bad one must be refused
with a message naming what is wrong, in the SDK host, the real libsinsp and the real Falco,
which must not crash; a valid event of every type a source may emit must pass and go through
libsinsp's parsers and fields.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from falco_plugin.event import EVENT_CLASSES, RawEvent
from falco_plugin.realhost import FalcoPlugin, run_falco
from falco_plugin.testing import Capture, run_capture
from tests import source_events
from tests.plugins.syscall_checked import write_events

PLUGIN = Path(__file__).resolve().parent / "plugins" / "syscall_checked.py"
#: what Falco outputs show, to have libsinsp format every parameter and resolve fds
OUTPUT = "%evt.type %evt.args %proc.name %fd.name %fd.num %evt.res %evt.info %user.name"
FIELDS = ["evt.type", "evt.args", "proc.name", "fd.name", "fd.sip", "evt.res", "evt.info"]


@pytest.fixture(scope="module")
def library(falco_build: Callable[[str], Path]) -> Path:
    return falco_build(str(PLUGIN))


def offer(tmp_path: Path, events: list[bytes]) -> tuple[str, Callable[[], list[str | None]]]:
    """Open params offering ``events``, and a reader of the refusals (None: added)."""
    path = tmp_path / "events.bin"
    write_events(str(path), events)

    def refusals() -> list[str | None]:
        lines = (tmp_path / "events.bin.report").read_text().splitlines()
        return [json.loads(line)["refused"] for line in lines]

    return str(path), refusals


def mixed() -> tuple[list[bytes], list[tuple[str, str]], list[bytes]]:
    """The story, then each bad event after a valid one: (all events, (what, word) of each
    bad one, the valid ones in order)."""
    story, bad = source_events.story(), []
    generic = dict(source_events.valid_events())["PPME_GENERIC_X"]
    events = list(story)
    for what, raw, word in source_events.bad_events():
        events += [generic, raw]
        bad.append((what, word))
    return events, bad, story + [generic] * len(bad)


def check_refusals(refused: list[str | None], bad: list[tuple[str, str]]) -> None:
    mine = [r for r in refused if r is not None]
    assert len(mine) == len(bad), refused
    for message, (what, word) in zip(mine, bad, strict=True):
        assert message.startswith("event refused: ") and word in message, (what, message)
    assert refused[: len(source_events.story())] == [None] * len(source_events.story())


def event_types(cap: Capture) -> list[int]:
    return [e["type"] for e in cap.events]


def test_the_sdk_host_gets_only_the_valid_events(library: Path, tmp_path: Path) -> None:
    events, bad, valid = mixed()
    params, refusals = offer(tmp_path, events)
    cap = run_capture(str(library), open_params=params)
    assert cap.ok, cap.error_message
    check_refusals(refusals(), bad)
    assert event_types(cap) == [RawEvent.parse(e).type for e in valid]
    warned = [m for _, m in cap.logs if "event refused" in m]
    assert len(warned) == len(bad)


def test_messages_name_the_parameter_and_the_type(library: Path, tmp_path: Path) -> None:
    by_what = {what: raw for what, raw, _ in source_events.bad_events()}
    params, refusals = offer(tmp_path, [by_what["an empty fd"], by_what["unknown event type"]])
    assert run_capture(str(library), open_params=params).ok
    assert refusals() == [
        "event refused: parameter 0 'fd' (PT_FD) of the open exit event (PPME_SYSCALL_OPEN_X, "
        "type 3): a fixed-size parameter is empty (libsinsp reads it unchecked)",
        f"event refused: event type {len(EVENT_CLASSES)}: an unknown event type "
        f"(the event schema has {len(EVENT_CLASSES)} types)",
    ]


def test_fixed_size_parameters_are_never_empty(library: Path, tmp_path: Path) -> None:
    """libsinsp reads them unchecked; only the ones drivers leave empty may be."""
    offered = []
    for cls in EVENT_CLASSES:
        if source_events.emittable(cls):
            for i, spec in enumerate(cls.PARAMS):
                if source_events.is_fixed(spec.type):
                    empty_ok = (cls.ID, spec.name) in source_events.MAY_BE_EMPTY
                    offered.append((empty_ok, source_events.encode(cls, {i: b""})))
    params, refusals = offer(tmp_path, [raw for _, raw in offered])
    assert run_capture(str(library), open_params=params).ok
    added = [r is None for r in refusals()]
    assert added == [ok for ok, _ in offered]
    assert sum(added) == 1 and len(added) > 1000


def test_libsinsp_gets_only_the_valid_events(
    falco_realhost: Path, library: Path, tmp_path: Path
) -> None:
    events, bad, valid = mixed()
    params, refusals = offer(tmp_path, events)
    cap = run_capture(str(library), open_params=params, host="sinsp", fields=FIELDS)
    assert cap.ok, cap.error_message + cap.stderr[-2000:]
    check_refusals(refusals(), bad)
    assert event_types(cap) == [RawEvent.parse(e).type for e in valid]
    assert cap.field_values("evt.type")[-len(bad) :] == ["clock_gettime"] * len(bad)


def test_every_valid_event_goes_through_libsinsp(
    falco_realhost: Path, library: Path, tmp_path: Path
) -> None:
    """A valid event of every type a source may emit, and with each variable-size parameter
    empty: all added, and libsinsp parses, formats and resolves them without an error."""
    valid = source_events.valid_events()
    events = source_events.story() + [raw for _, raw in valid]
    params, refusals = offer(tmp_path, events)
    cap = run_capture(str(library), open_params=params, host="sinsp", output=OUTPUT)
    assert cap.ok, cap.error_message + cap.stderr[-2000:]
    assert refusals() == [None] * len(events) and len(valid) > 600
    assert cap.summaries[-1]["eof"]
    offered = Counter(RawEvent.parse(raw).type for raw in events)
    missing = offered - Counter(e["type"] for e in cap.events + cap.async_events)
    # the enter events libsinsp keeps for their exit event (open, connect, execve...)
    assert {EVENT_CLASSES[t].DIRECTION for t in missing} == {">"}
    assert sum(missing.values()) < 20


def test_whatever_add_event_takes_libsinsp_takes(
    falco_realhost: Path, library: Path, tmp_path: Path
) -> None:
    """Valid events with one parameter (and sometimes the thread) damaged at random: about
    half are refused; libsinsp parses and formats the others without an error or a crash."""
    valid = [raw for _, raw in source_events.valid_events()]
    events = source_events.story() + source_events.mutated(valid, 3000, seed=1)
    params, refusals = offer(tmp_path, events)
    cap = run_capture(str(library), open_params=params, host="sinsp", output=OUTPUT)
    assert cap.ok, cap.error_message + cap.stderr[-2000:]
    assert cap.summaries[-1]["eof"]
    taken = sum(r is None for r in refusals())
    assert 1000 < taken < 2500, taken


RULES = """
- rule: Generic syscalls
  desc: the valid events between the bad ones
  condition: evt.type = clock_gettime and proc.name = cat
  output: "%evt.type by %proc.name"
  priority: NOTICE
- rule: A cat connects
  desc: the story's connect went through libsinsp's parsers
  condition: evt.type = connect and fd.name contains 93.184.216.34
  output: "%proc.name connected %fd.name"
  priority: WARNING
"""


def test_falco_survives_a_source_of_bad_events(
    falco_realhost: Path, library: Path, tmp_path: Path
) -> None:
    events, bad, _valid = mixed()
    params, refusals = offer(tmp_path, events)
    run = run_falco([FalcoPlugin(library, open_params=params)], RULES)
    assert run.ok, run.error
    check_refusals(refusals(), bad)
    assert run.outputs() == [
        "cat connected 10.0.0.5:40000->93.184.216.34:443",
        *["clock_gettime by cat"] * len(bad),
    ]
    assert sum("event refused" in line for line in run.log) == len(bad)


def test_falco_stops_with_the_message_of_a_refusal_not_caught(
    falco_realhost: Path, library: Path, tmp_path: Path
) -> None:
    """A plugin that lets the ValueError through fails next_batch: Falco stops with the
    message, it does not crash."""
    bad = {what: raw for what, raw, _ in source_events.bad_events()}
    params, _ = offer(tmp_path, [bad["generic event beyond the syscall table (SIGSEGV)"]])
    run = run_falco([FalcoPlugin(library, open_params="raise:" + params)], RULES)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "the syscall id is beyond libsinsp's syscall table" in run.error
