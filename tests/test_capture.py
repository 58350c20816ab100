"""Scap capture files: round trips, every block version, old event layouts, malformed input."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falco_plugin.event import Event, EventFormatError, decode, event_class
from falco_plugin.event.capture import (
    STATE_ONLY,
    CaptureFormatError,
    CaptureLayout,
    CaptureWriter,
    ConversionError,
    FdInfo,
    FdType,
    Interface,
    ThreadInfo,
    open_capture,
    read_capture,
    write_capture,
)
from falco_plugin.event.capture_blocks import IF_IPV4_NOLINKSPEED, IF_IPV6_NOLINKSPEED
from falco_plugin.event.convert import Converter
from falco_plugin.event.replay import replay_input
from tests.capture_samples import (
    T0,
    current_events,
    fds,
    interfaces,
    machine,
    old_events,
    plugin_events,
    threads,
    users,
    write_rich,
)


def _small(events: list[Event] | None = None, **options: object) -> bytes:
    out = io.BytesIO()
    write_capture(out, events or [e for e, _, _ in current_events()[:3]], **options)
    return out.getvalue()


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_keeps_everything(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / "rich.scap"
    written = write_rich(path, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    cap = read_capture(path)
    section = cap.section
    assert section.version == (1, 2)
    assert cap.machine_info == machine()
    assert section.threads == threads()
    assert section.interfaces == interfaces()
    assert (section.users, section.groups) == users()
    assert section.block_versions == {
        "machine_info": {1},
        "interfaces": {2},
        "users": {2},
        "proclist": {9},
        "fdlist": {2},
    }
    assert [e.tobytes() for e in cap.events] == written
    expected = [(cpu, flags) for _, cpu, flags in current_events()] + [(0, 0), (0, 0)]
    assert [(e.cpu, e.flags) for e in cap.events] == expected
    assert [e.state_only for e in cap.events].count(True) == 1
    assert cap.events[-2].decode().params.event_data == b"x" * 70_000
    assert cap.stats == {"blocks": 21, "events": 15, "converted": 0, "dropped": 0, "skipped": 0}


def test_sources_path_bytes_and_file_objects(tmp_path: Path) -> None:
    path = tmp_path / "c.scap"
    written = write_rich(path)
    data = path.read_bytes()
    for source in (path, str(path), data, bytearray(data), io.BytesIO(data)):
        assert [e.tobytes() for e in read_capture(source).events] == written
    zipped = gzip.compress(data)
    for source in (zipped, io.BytesIO(zipped)):
        assert [e.tobytes() for e in read_capture(source).events] == written
    with path.open("rb") as handle:
        read_capture(handle)
        assert not handle.closed  # a file the caller gave stays open


def test_reader_streams_events_and_sections() -> None:
    first = _small(machine_info=machine(), threads=threads()[:1])
    second = _small([e for e, _, _ in current_events()[5:7]], threads=threads()[1:2])
    with open_capture(first + second) as reader:
        assert reader.section.threads == threads()[:1]
        seen = [(ev.section, ev.type) for ev in reader]
        assert len(reader.sections) == 2
        assert reader.sections[1].threads == threads()[1:2]
        assert reader.sections[1].machine_info is None
    assert [s for s, _ in seen] == [0, 0, 0, 1, 1]


def test_writer_accepts_every_event_form(tmp_path: Path) -> None:
    event = current_events()[0][0]
    data = event.encode()
    cap = read_capture(_small([event]))
    path = tmp_path / "forms.scap"
    with CaptureWriter(path) as writer:
        writer.write(event)
        writer.write(data)
        writer.write(memoryview(data))
        writer.write(decode(data))
        writer.write(cap.events[0].raw)
        writer.write(cap.events[0], cpu=3, flags=STATE_ONLY)
    events = read_capture(path).events
    assert {e.tobytes() for e in events} == {data}
    assert (events[-1].cpu, events[-1].flags) == (3, STATE_ONLY)


def test_writer_refuses_what_libscap_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most 1024"):
        CaptureWriter(tmp_path / "a", threads=[ThreadInfo(tid=1, comm="x" * 1025)])
    with pytest.raises(ValueError, match="at most 4096"):
        CaptureWriter(tmp_path / "a", threads=[ThreadInfo(tid=1, args=("y" * 5000,))])
    with pytest.raises(ValueError, match="127"):
        CaptureWriter(tmp_path / "a", machine_info=machine().__class__(hostname="h" * 128))
    assert not (tmp_path / "a").exists()  # nothing written before the values are checked
    big = event_class("write", "<")(res=0, data=b"z" * 65_520, fd=1, size=0)
    with CaptureWriter(tmp_path / "b") as writer, pytest.raises(ValueError, match="too long"):
        writer.write(Event(big, ts=1, tid=1))
    with pytest.raises(ValueError, match="large payload"):
        write_capture(tmp_path / "c", plugin_events()[:1], layout=CaptureLayout(events=1))
    with pytest.raises(ValueError, match="version 10"):
        CaptureLayout(proclist=10)
    with pytest.raises(EventFormatError):
        write_capture(tmp_path / "d", [b"\x00" * 10])


def test_empty_capture_is_refused_like_libscap(caplog: pytest.LogCaptureFixture) -> None:
    out = io.BytesIO()
    assert write_capture(out, [], threads=threads()) == 0
    assert "without events" in caplog.text
    with pytest.raises(CaptureFormatError, match="no events"):
        read_capture(out.getvalue())


# --- every block version ---------------------------------------------------------------------

#: Process list fields by the version that brought them (v9 brings the rest).
_PL_FIELDS = {
    1: {"tid", "pid", "ptid", "comm", "exe", "args", "cwd", "fdlimit", "flags", "uid", "gid"},
    2: {"vmsize_kb", "vmrss_kb", "vmswap_kb", "pfmajor", "pfminor"},
    3: {"env"},
    4: {"vtid", "vpid", "cgroups"},
    5: {"root"},
    6: {"sid"},
    7: {"exepath"},
    8: {"vpgid"},
}


@pytest.mark.parametrize("version", range(1, 10))
def test_process_list_versions(version: int) -> None:
    cap = read_capture(_small(threads=threads(), layout=CaptureLayout(proclist=version)))
    assert cap.section.block_versions["proclist"] == {version}
    kept = set().union(*(f for v, f in _PL_FIELDS.items() if v <= version))
    defaults = ThreadInfo(tid=0)
    for got, want in zip(cap.threads, threads(), strict=True):
        for name in ThreadInfo.__dataclass_fields__:
            if name == "fds":
                assert got.fds == want.fds
            elif version == 9 or name in kept:
                assert getattr(got, name) == getattr(want, name), name
            else:
                assert getattr(got, name) == getattr(defaults, name), name


def test_v9_entries_skip_unknown_fields_and_read_pre_0_10_files() -> None:
    info = threads()[1]
    entry = info.encode(9)
    longer = struct.pack("<I", len(entry) + 6) + entry[4:] + b"future"
    body = longer + entry
    from falco_plugin.event.capture_blocks import decode_proc_list

    got = decode_proc_list(body, 9)
    assert [t.tid for t in got] == [info.tid, info.tid]
    assert got[0] == dataclass_without_fds(info) == got[1]
    # libs before 0.10 wrote loginuid ... cap_effective without pidns_init_start_ts and tty
    tail = 8 + 4 + 4 + 1 + 8 + 8 + 8 + 1 + 8 * 3 + 1 + 1 + 8
    head = entry[4:-tail]
    old_tail = struct.pack("<I?QQQ", 1000, True, 1, 2, 3)
    old = struct.pack("<I", 4 + len(head) + len(old_tail)) + head + old_tail
    (parsed,) = decode_proc_list(old, 9)
    assert (parsed.loginuid, parsed.exe_writable, parsed.cap_effective) == (1000, True, 3)
    assert (parsed.pidns_init_start_ts, parsed.tty, parsed.pgid) == (0, 0, -1)


def dataclass_without_fds(info: ThreadInfo) -> ThreadInfo:
    import dataclasses

    return dataclasses.replace(info, fds=[])


@pytest.mark.parametrize("version", [1, 2])
def test_fd_interface_and_user_list_versions(version: int) -> None:
    layout = CaptureLayout(fdlist=version, interfaces=version, users=version)
    old_ifaces = [
        Interface("tun0", *(interfaces()[1].addr,) * 3, type=IF_IPV4_NOLINKSPEED),
        Interface("tun6", *(interfaces()[2].addr,) * 3, type=IF_IPV6_NOLINKSPEED),
    ]
    user_list, group_list = users()
    data = _small(
        threads=threads(),
        interfaces=interfaces() + old_ifaces,
        users=user_list,
        groups=group_list,
        layout=layout,
    )
    cap = read_capture(data)
    want = fds()
    if version == 1:  # v1 fd entries have no room for the device of FILE_V2 fds
        want = [f if f.type != FdType.FILE_V2 else FdInfo(**{**f.__dict__, "dev": 0}) for f in want]
    assert cap.threads[1].fds == want
    assert cap.section.interfaces == interfaces() + old_ifaces
    assert (cap.section.users, cap.section.groups) == (user_list, group_list)
    assert cap.section.block_versions["fdlist"] == {version}


def test_pre_release_block_numbers() -> None:
    """Blocks of the pre-release numbering (``0x80..ABCD``) read like the official ones."""
    data = bytearray(_small(machine_info=machine(), threads=threads(), layout=CaptureLayout(
        proclist=1, fdlist=1, events=1)))  # fmt: skip
    renames = {0x201: 0x8002ABCD, 0x202: 0x8000ABCD, 0x203: 0x8001ABCD, 0x204: 0x8010ABCD}
    pos = 0
    while pos < len(data):
        block_type, total = struct.unpack_from("<II", data, pos)
        if block_type in renames:
            struct.pack_into("<I", data, pos, renames[block_type])
        pos += total
    cap = read_capture(bytes(data))
    assert cap.machine_info == machine()
    assert [t.comm for t in cap.threads] == [t.comm for t in threads()]
    assert len(cap.events) == 3


def test_old_event_blocks_get_their_parameter_count() -> None:
    events = [e for e, _, _ in current_events()]
    notification = Event(event_class("notification", ">")(id="x", desc="hello"), ts=T0, tid=1)
    events.append(notification)
    cap = read_capture(_small(events, layout=CaptureLayout(events=1)), convert=False)
    assert [e.tobytes() for e in cap.events] == [e.encode() for e in events]
    flagged = io.BytesIO()
    with CaptureWriter(flagged, layout=CaptureLayout(events=1)) as writer:
        writer.write(events[0], cpu=2, flags=STATE_ONLY)
    (got,) = read_capture(flagged.getvalue()).events
    assert (got.tobytes(), got.cpu, got.flags) == (events[0].encode(), 2, STATE_ONLY)


def test_unknown_blocks_and_event_types_are_skipped() -> None:
    data = bytearray(_small())
    shb_len = struct.unpack_from("<I", data, 4)[0]
    unknown = struct.pack("<II", 0x999, 16) + b"abcd" + struct.pack("<I", 16)
    data[shb_len:shb_len] = unknown
    future = bytearray(current_events()[0][0].encode())
    struct.pack_into("<H", future, 20, 9999)
    body = struct.pack("<H", 0) + future
    body += b"\0" * (-len(body) % 4)
    data += struct.pack("<II", 0x216, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    cap = read_capture(bytes(data))
    assert len(cap.events) == 3
    assert cap.stats["skipped"] == 1
    assert cap.section.block_versions["unknown"] == {0x999}


# --- conversion of old event layouts ---------------------------------------------------------


def test_old_layouts_are_converted_like_libscap() -> None:
    cap = read_capture(_small(old_events(), threads=threads()))
    lines = [e.decode().to_text() for e in cap.events]
    assert lines == [
        "< close res=0 fd=7",
        "> open name=/etc/hosts flags=1(O_RDONLY) mode=0",
        "< open fd=3 name=/etc/hosts flags=1(O_RDONLY) mode=0 dev=<NA> ino=<NA>",
        "< link res=0 oldpath=/a newpath=/b",
        "< bpf fd=2304 cmd=5(BPF_PROG_LOAD)",
        "< read res=5 data=hello fd=3 size=100",
        "< setgid res=0 gid=<NA>",
        "< kill res=0 pid=0 sig=0",
        "< accept4 fd=5 tuple=1.2.3.4:1->5.6.7.8:2 queuepct=3 queuelen=0 queuemax=0 flags=0",
        "> execve filename=<NA>",
        lines[10],
        '> container json={"id":"abc123","type":0,"name":"web","image":"nginx:1"}',
        "< umount res=0 name=/mnt",
    ]
    execve = cap.events[10].decode()
    assert execve.params.ID == "PPME_SYSCALL_EXECVE_19_X"
    params = execve.params
    assert (params.exe, params.cwd, params.fdlimit) == ("/bin/ls", "/home/a", 1024)
    assert execve.params.comm is None and execve.nparams == len(execve.params.PARAMS)
    assert cap.stats["converted"] == 13 and cap.stats["dropped"] == 6
    raw = read_capture(_small(old_events()), convert=False)
    assert [e.tobytes() for e in raw.events] == [e.encode() for e in old_events()]
    assert raw.events[1].decode().nparams == 1  # kept as stored: the missing fd reads as None


def test_converter_refuses_what_libscap_refuses() -> None:
    conv = Converter()
    close_x = Event(event_class("PPME_SYSCALL_CLOSE_X")(res=0), ts=1, tid=5, nparams=1)
    conv.convert(Event(event_class("PPME_SYSCALL_READ_E")(fd=1, size=2), ts=0, tid=5).encode())
    with pytest.raises(ConversionError, match="stored enter event"):
        conv.convert(close_x.encode())
    no_entry = Event(event_class("PPME_SYSCALL_OPEN_X")(fd=1), ts=1, tid=5, nparams=1)
    with pytest.raises(ConversionError, match="table does not have"):
        conv.convert(no_entry.encode())
    three = struct.pack("<QqIHI3H", 1, 5, 26 + 6 + 17, 5, 3, 8, 8, 1) + b"\0" * 17
    with pytest.raises(ConversionError, match="3 parameters; the schema has 2"):
        Converter().convert(three)
    oversized = Event(
        event_class("PPME_SYSCALL_READ_X")(res=0, data=b"q" * 65_500), ts=1, tid=6, nparams=2
    )
    with pytest.raises(ConversionError, match="at most 65536"):
        Converter().convert(oversized.encode())


# --- malformed input -------------------------------------------------------------------------


def test_every_truncation_is_a_clean_error() -> None:
    """A capture cut inside a block is an error; cut after an event block, it is shorter."""
    data = _small(machine_info=machine(), threads=threads())
    event_ends, pos = [], 0
    while pos < len(data):
        block_type, total = struct.unpack_from("<II", data, pos)
        pos += total
        if block_type == 0x216:
            event_ends.append(pos)
    assert len(event_ends) == 3
    for cut in range(len(data)):
        try:
            cap = read_capture(data[:cut])
        except EventFormatError:
            assert cut not in event_ends
            continue
        assert cut in event_ends, f"a capture cut at {cut} of {len(data)} bytes was accepted"
        assert len(cap.events) == event_ends.index(cut) + 1


def test_damaged_gzip_is_a_format_error() -> None:
    zipped = gzip.compress(_small())
    for cut in (len(zipped) // 2, len(zipped) - 5):
        with pytest.raises(CaptureFormatError, match="gzip"):
            read_capture(zipped[:cut])
    damaged = bytearray(zipped)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(EventFormatError):
        read_capture(bytes(damaged))


def test_bad_headers_and_lengths() -> None:
    good = bytearray(_small(threads=threads()))

    def patched(offset: int, fmt: str, value: int) -> bytes:
        data = bytearray(good)
        struct.pack_into(fmt, data, offset, value)
        return bytes(data)

    cases = {
        "not a scap capture": patched(0, "<I", 0x12345678),
        "big-endian": patched(8, "<I", 0x4D3C2B1A),
        "bad byte-order magic": patched(8, "<I", 0xDEADBEEF),
        "capture format 2": patched(12, "<H", 2),
        "at least 28": patched(4, "<I", 12),
        "truncated": patched(28 + 4, "<I", 0xFFFF_FFF0),  # a huge block on a small file
        "trailer": patched(28 + 4, "<I", 20),
        "empty file": b"",
    }
    for message, data in cases.items():
        with pytest.raises(CaptureFormatError, match=message):
            read_capture(data)


def test_event_block_checks() -> None:
    event = current_events()[0][0].encode()

    def one_block(block_type: int, body: bytes, total: int | None = None) -> bytes:
        pad = b"\0" * (-len(body) % 4)
        size = 12 + len(body) + len(pad) if total is None else total
        head = _small()
        head = head[: struct.unpack_from("<I", head, 4)[0]]  # the section header only
        return head + struct.pack("<II", block_type, size) + body + pad + struct.pack("<I", size)

    long_len = bytearray(event)
    struct.pack_into("<I", long_len, 16, len(event) + 100)
    bad_lengths = bytearray(event)
    struct.pack_into("<H", bad_lengths, 26, 0xFFFF)
    cases = {
        "too short": one_block(0x216, b"\0\0", 16),
        "outside 26": one_block(0x216, b"\0\0" + bytes(long_len)),
        "parameter": one_block(0x216, b"\0\0" + bytes(bad_lengths)),
        "at most 65544": one_block(0x216, b"\0\0" + event + b"\0" * 70_000),
        "after the events": one_block(0x216, b"\0\0" + event) + struct.pack("<III", 0x202, 12, 12),
    }
    for message, data in cases.items():
        with pytest.raises(EventFormatError, match=message):
            read_capture(data)


def test_metadata_string_limits() -> None:
    good = ThreadInfo(tid=1, comm="a").encode(9)
    over = bytearray(good)
    struct.pack_into("<H", over, 4 + 40, 1025)  # comm length, after len/tid/pid/ptid/sid/vpgid
    from falco_plugin.event.capture_blocks import decode_proc_list

    with pytest.raises(CaptureFormatError, match="comm of 1025 bytes"):
        decode_proc_list(bytes(over), 9)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_corruption_never_escapes(data: st.DataObject) -> None:
    """Flipped bytes give events or a format error: never another exception or a hang."""
    base = bytearray(_FUZZ_BASE)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(base) - 1))
        base[pos] = data.draw(st.integers(0, 255))
    try:
        for convert in (True, False):
            cap = read_capture(bytes(base), convert=convert)
            for ev in cap.events:
                ev.decode()
    except EventFormatError:
        pass


_FUZZ_BASE = _small(
    [e for e, _, _ in current_events()] + old_events()[:6],
    machine_info=machine(),
    threads=threads(),
    interfaces=interfaces(),
    users=users()[0],
    groups=users()[1],
)


# --- replay input ----------------------------------------------------------------------------


def test_replay_input_threads_and_shown_events() -> None:
    leading = [
        Event(event_class("useradded", ">")(uid=0, gid=0, name="root", home="/root",
                                            shell="/bin/sh", container_id=""), ts=T0, tid=-1)
    ]  # fmt: skip
    events = leading + old_events()[:4] + [current_events()[0][0]]
    out = io.BytesIO()
    with CaptureWriter(out, threads=threads()) as writer:
        for event in events:
            writer.write(event)
        writer.write(current_events()[1][0], flags=STATE_ONLY)
    replay = replay_input(out.getvalue())
    (section,) = replay.sections
    assert section.count == 6
    assert section.shown == [False, True, False, True, True, False]
    assert [length for _, length in section.offsets()] == [
        len(e.tobytes()) for e in read_capture(out.getvalue()).events
    ]
    shell, app, worker = replay.threads
    assert app["args"] == ["--serve", "--port=8080"] and app["exe_path"] == "/opt/app/bin/app"
    assert app["cwd"] == "/opt/app/" and worker["cwd"] == "" and worker["env"] == []
    assert app["flags"] == (1 << 19 | 1 << 17) and app["reaper_tid"] == -1  # ACTIVE, NAME_CHANGED
    assert app["cgroups"] == [
        {"first": "cpuset", "second": "/docker/abc"},
        {"first": "perf_event", "second": "/docker/abc"},
        {"first": "blkio", "second": "/docker/abc"},
    ]
    by_fd = {fd["fd"]: fd for fd in app["file_descriptors"]}
    assert by_fd[3]["name"] == "10.0.0.5:40000->93.184.216.34:443"
    assert by_fd[3]["socket_ipv4_src_ip"] == int.from_bytes(bytes([10, 0, 0, 5]), "little")
    assert by_fd[3]["flags"] == 1 | (1 << 2) | (1 << 13)  # from /proc, client, connected
    assert by_fd[12]["name"] == "10.0.0.7:51000->10.0.0.5:8080"  # the server side of 8080
    assert by_fd[12]["flags"] == 1 | (1 << 3) | (1 << 13)
    assert by_fd[4]["name"] == "2001:db8::1:5353->2001:db8::2:53"
    assert by_fd[5]["name"] == "0.0.0.0:8080" and by_fd[6]["name"] == ":::8443"
    assert by_fd[7]["flags"] == 1 | (1 << 3) and by_fd[7]["socket_unix_dest"] == 0xFFFF0002
    assert by_fd[10]["type"] == FdType.IPV4_SOCK  # an IPv4-mapped IPv6 connection
    assert by_fd[10]["name"] == "10.0.0.5:41000->10.0.0.9:22"
    assert by_fd[0]["open_flags"] == 2 and by_fd[0]["dev"] == 0x19
    assert shell["tty"] == 34816 and shell["env"] == ["HOME=/home/a", "TERM=xterm"]


def test_replay_fixture_loads_in_the_sdk_host(tmp_path: Path) -> None:
    """Today's SDK host takes the fixture as ``--threads-fixture`` (the shape it documents)."""
    from falco_plugin.host import parse_json_lines, run_host
    from tests.chost import REFERENCE, compile_plugin

    path = tmp_path / "rich.scap"
    write_rich(path)
    fixture = tmp_path / "threads.json"
    fixture.write_text(json.dumps(replay_input(path).threads))
    plugin = compile_plugin(REFERENCE, tmp_path / "libref.so")
    proc = run_host(["run", "--json", "--quiet", "--threads-fixture", f"@{fixture}",
                     "--dump-table", "threads", str(plugin)])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (table,) = [r["table"] for r in parse_json_lines(proc.stdout) if "table" in r]
    entries = {e["key"]: e["fields"] for e in table["entries"]}
    for info in threads():
        got = entries[info.tid]
        assert (got["comm"], got["exe_path"], got["pid"]) == (info.comm, info.exepath, info.pid)
        assert got["file_descriptors"] == {"size": len(info.fds)}
        assert got["args"] == {"size": len(info.args)}
