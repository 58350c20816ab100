"""A Python field reading libsinsp's own threads table, event after event, against
libsinsp's own fields for the same facts: the C lookup and field readers (string values
given again when their text repeats: here many threads and names, some sharing a cache
line, some not ASCII)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from falco_plugin.event import Event, event_class
from falco_plugin.event.capture import CaptureWriter, ThreadInfo
from falco_plugin.testing import plugin_args, run_capture

PLUGINS = Path(__file__).resolve().parent / "plugins"
THREADS = 600


def comm_of(i: int) -> str:
    # names repeat (every 450th), some are not ASCII, one is longer than what is kept, and
    # some longer than 16 bytes differ only in the middle (same length, first and last 8
    # bytes: one cache set, told apart by the bytes between)
    if i % 97 == 0:
        return f"wörker-{i}"
    if i % 11 == 0:
        return f"thread--{i % 450:04d}--worker"
    return "x" * 80 if i == 5 else f"worker-{i % 450}"


def write(path: Path, events: int) -> None:
    infos = [
        ThreadInfo(tid=2000 + i, pid=2000 + i, ptid=1, comm=comm_of(i), exe="w",
                   exepath="/usr/bin/w", cwd="/", vtid=2000 + i, vpid=2000 + i)
        for i in range(THREADS)
    ]  # fmt: skip
    read = event_class("read", "<")(res=4, data=b"data", fd=3, size=64)
    with CaptureWriter(path, threads=infos) as writer:
        for k in range(events):
            tid = 2000 + (k * 7 + k // THREADS) % THREADS  # the same thread again, now and then
            writer.write(Event(read, ts=1_700_000_000_000_000_000 + k, tid=tid))


def test_thread_fields_agree_with_libsinsp_event_by_event(
    falco_realhost: Path, falco_build: Callable[[str], Path], tmp_path: Path
) -> None:
    path = tmp_path / "threads.scap"
    write(path, 2 * THREADS)
    lib = falco_build(str(PLUGINS / "thread_comm.py"))
    fields = ["tc.comm", "proc.name", "tc.pid", "proc.pid", "thread.tid"]
    cap = run_capture([plugin_args(lib)], capture=path, host="sinsp", fields=fields)
    assert cap.ok, cap.error_message + cap.stderr[-2000:]
    assert len(cap.events) == 2 * THREADS
    for event in cap.events:
        got = event["fields"]
        assert (got["tc.comm"], got["tc.pid"]) == (got["proc.name"], got["proc.pid"]), got
        assert got["tc.comm"] == comm_of(got["thread.tid"] - 2000)


def thread_comm_values(
    falco_build: Callable[[str], Path], tmp_path: Path, events: int, field: str
) -> list[object]:
    """The values of one thread_comm field over a capture of ``events`` events, in libsinsp."""
    path = tmp_path / "threads.scap"
    write(path, events)
    lib = falco_build(str(PLUGINS / "thread_comm.py"))
    cap = run_capture([plugin_args(lib)], capture=path, host="sinsp", fields=[field])
    assert cap.ok, cap.error_message + cap.stderr[-2000:]
    return cap.field_values(field)


def test_an_entry_handle_is_given_again_only_when_nothing_holds_it(
    falco_realhost: Path, falco_build: Callable[[str], Path], tmp_path: Path
) -> None:
    got = thread_comm_values(falco_build, tmp_path, 40, "tc.handle_versions")
    assert got[:5] == ["first", "dropped:True", "kept:True", "dropped:True", "kept:True"], got
    assert set(got[5:]) == {"kept:True", "dropped:True"}, got


def test_int_keys_of_every_size_and_sign(
    falco_realhost: Path, falco_build: Callable[[str], Path], tmp_path: Path
) -> None:
    # the C lookup reads a one-digit int in place and hands any other to PyLong: a key
    # whose low digit is a thread's tid, or the tid negated, finds no thread
    got = thread_comm_values(falco_build, tmp_path, 20, "tc.key_forms")
    assert got == [["True", "False", "False", "False"]] * 20, got
