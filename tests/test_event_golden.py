"""Golden text and JSON forms of common events (the text modelled on libsinsp's evt.args)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from falco_plugin.event import (
    Event,
    SockAddrUnix,
    SockAddrV4,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
    async_event,
    decode,
    event_class,
    json_payload,
    plugin_event,
)
from falco_plugin.event.spec import ParamSpec
from falco_plugin.event.text import param_text

IP = ipaddress.ip_address


def _open_e() -> Event:
    params = event_class("open", ">")(name="/etc/passwd", flags=1, mode=0)
    return Event(params, ts=1_700_000_000_123_456_789, tid=1234)


def _open_x() -> Event:
    cls = event_class("open", "<")
    params = cls(fd=-2, name="/etc/shadow", flags=0x241, mode=0o644, dev=0x803, ino=0)
    return Event(params, ts=1_700_000_000_123_456_790, tid=1234)


def _execve_x() -> Event:
    params = event_class("execve", "<")(
        res=0,
        exe="/usr/bin/ls",
        args=b"-la\x00/tmp\x00",
        tid=4242,
        pid=4242,
        ptid=1,
        cwd="/home/u",
        fdlimit=1024,
        pgft_maj=0,
        pgft_min=77,
        vm_size=1024,
        vm_rss=256,
        vm_swap=0,
        comm="ls",
        cgroups=b"cpuset=/\x00cpu=/user.slice\x00",
        env=b"HOME=/home/u\x00TERM=xterm\x00",
        tty=34816,
        vpgid=4242,
        loginuid=1000,
        flags=1,
        cap_inheritable=0,
        cap_permitted=0x1FFFFFFFFFF,
        cap_effective=0,
        exe_ino=12345,
        exe_ino_ctime=1_700_000_000_000_000_000,
        exe_ino_mtime=1_600_000_000_123_456_789,
        uid=0xFFFFFFFF,
        trusted_exepath="/usr/bin/ls",
        pgid=4242,
        gid=1000,
        filename="/usr/bin/ls",
    )
    return Event(params, ts=2, tid=4242)


def _connect_x() -> Event:
    tuple_ = SockTupleV4(IP("10.0.0.5"), 51234, IP("93.184.216.34"), 443)  # type: ignore[arg-type]
    addr = SockAddrV4(IP("93.184.216.34"), 443)  # type: ignore[arg-type]
    params = event_class("connect", "<")(res=-115, tuple=tuple_, fd=5, addr=addr)
    return Event(params, ts=3, tid=10)


def _clone_x() -> Event:
    params = event_class("clone", "<")(
        res=0,
        exe="/bin/bash",
        args=b"-c\x00true\x00",
        tid=101,
        pid=101,
        ptid=100,
        cwd="/",
        fdlimit=1024,
        pgft_maj=0,
        pgft_min=0,
        vm_size=100,
        vm_rss=10,
        vm_swap=0,
        comm="bash",
        cgroups=b"cpu=/\x00",
        flags=0x10000 | 0x100 | 0x400 | 0x800,
        uid=0,
        gid=0,
        vtid=101,
        vpid=101,
        pidns_init_start_ts=0,
    )
    return Event(params, ts=4, tid=101)


GOLDEN: list[tuple[str, Any, str, dict[str, Any]]] = [
    (
        "open_e",
        _open_e,
        "> open name=/etc/passwd flags=1(O_RDONLY) mode=0",
        {
            "ts": 1700000000123456789,
            "tid": 1234,
            "type": 2,
            "id": "PPME_SYSCALL_OPEN_E",
            "name": "open",
            "direction": ">",
            "params": {"name": "/etc/passwd", "flags": 1, "mode": 0},
        },
    ),
    (
        "open_x",
        _open_x,
        "< open fd=-2(ENOENT) name=/etc/shadow flags=577(O_DIRECT|O_NONBLOCK|O_RDONLY) "
        "mode=0644 dev=803 ino=0",
        {
            "ts": 1700000000123456790,
            "tid": 1234,
            "type": 3,
            "id": "PPME_SYSCALL_OPEN_X",
            "name": "open",
            "direction": "<",
            "params": {
                "fd": -2,
                "name": "/etc/shadow",
                "flags": 577,
                "mode": 420,
                "dev": 2051,
                "ino": 0,
            },
        },
    ),
    (
        "execve_x",
        _execve_x,
        "< execve res=0 exe=/usr/bin/ls args=-la./tmp. tid=4242 pid=4242 ptid=1 cwd=/home/u "
        "fdlimit=1024 pgft_maj=0 pgft_min=77 vm_size=1024 vm_rss=256 vm_swap=0 comm=ls "
        "cgroups=cpuset=/.cpu=/user.slice. env=HOME=/home/u.TERM=xterm. tty=34816 vpgid=4242 "
        "loginuid=1000 flags=1(EXE_WRITABLE) cap_inheritable=0 cap_permitted=1FFFFFFFFFF "
        "cap_effective=0 exe_ino=12345 exe_ino_ctime=2023-11-14 22:13:20.000000000 +0000 "
        "exe_ino_mtime=2020-09-13 12:26:40.123456789 +0000 uid=-1(<NONE>) "
        "trusted_exepath=/usr/bin/ls pgid=4242 gid=1000 filename=/usr/bin/ls",
        {
            "ts": 2,
            "tid": 4242,
            "type": 293,
            "id": "PPME_SYSCALL_EXECVE_19_X",
            "name": "execve",
            "direction": "<",
            "params": {
                "res": 0,
                "exe": "/usr/bin/ls",
                "args": "-la\x00/tmp\x00",
                "tid": 4242,
                "pid": 4242,
                "ptid": 1,
                "cwd": "/home/u",
                "fdlimit": 1024,
                "pgft_maj": 0,
                "pgft_min": 77,
                "vm_size": 1024,
                "vm_rss": 256,
                "vm_swap": 0,
                "comm": "ls",
                "cgroups": "cpuset=/\x00cpu=/user.slice\x00",
                "env": "HOME=/home/u\x00TERM=xterm\x00",
                "tty": 34816,
                "vpgid": 4242,
                "loginuid": 1000,
                "flags": 1,
                "cap_inheritable": 0,
                "cap_permitted": 2199023255551,
                "cap_effective": 0,
                "exe_ino": 12345,
                "exe_ino_ctime": 1700000000000000000,
                "exe_ino_mtime": 1600000000123456789,
                "uid": 4294967295,
                "trusted_exepath": "/usr/bin/ls",
                "pgid": 4242,
                "gid": 1000,
                "filename": "/usr/bin/ls",
            },
        },
    ),
    (
        "connect_x",
        _connect_x,
        "< connect res=-115(EINPROGRESS) tuple=10.0.0.5:51234->93.184.216.34:443 fd=5 "
        "addr=93.184.216.34:443",
        {
            "ts": 3,
            "tid": 10,
            "type": 23,
            "id": "PPME_SOCKET_CONNECT_X",
            "name": "connect",
            "direction": "<",
            "params": {
                "res": -115,
                "tuple": {
                    "family": "inet",
                    "sip": "10.0.0.5",
                    "sport": 51234,
                    "dip": "93.184.216.34",
                    "dport": 443,
                },
                "fd": 5,
                "addr": {"family": "inet", "addr": "93.184.216.34", "port": 443},
            },
        },
    ),
    (
        "clone_x",
        _clone_x,
        "< clone res=0 exe=/bin/bash args=-c.true. tid=101 pid=101 ptid=100 cwd=/ fdlimit=1024 "
        "pgft_maj=0 pgft_min=0 vm_size=100 vm_rss=10 vm_swap=0 comm=bash cgroups=cpu=/. "
        "flags=68864(CLONE_PARENT|CLONE_PTRACE|CLONE_SIGHAND|CLONE_INVERTED) uid=0 gid=0 "
        "vtid=101 vpid=101 pidns_init_start_ts=0",
        {
            "ts": 4,
            "tid": 101,
            "type": 223,
            "id": "PPME_SYSCALL_CLONE_20_X",
            "name": "clone",
            "direction": "<",
            "params": {
                "res": 0,
                "exe": "/bin/bash",
                "args": "-c\x00true\x00",
                "tid": 101,
                "pid": 101,
                "ptid": 100,
                "cwd": "/",
                "fdlimit": 1024,
                "pgft_maj": 0,
                "pgft_min": 0,
                "vm_size": 100,
                "vm_rss": 10,
                "vm_swap": 0,
                "comm": "bash",
                "cgroups": "cpu=/\x00",
                "flags": 68864,
                "uid": 0,
                "gid": 0,
                "vtid": 101,
                "vpid": 101,
                "pidns_init_start_ts": 0,
            },
        },
    ),
    (
        "plugin",
        lambda: plugin_event(json_payload({"msg": "hi"}), plugin_id=999, ts=5),
        '> pluginevent plugin_id=999 event_data={"msg":"hi"}',
        {
            "ts": 5,
            "tid": -1,
            "type": 322,
            "id": "PPME_PLUGINEVENT_E",
            "name": "pluginevent",
            "direction": ">",
            "params": {"plugin_id": 999, "event_data": '{"msg":"hi"}'},
        },
    ),
    (
        "async",
        lambda: async_event("container_added", json_payload({"id": "abc"}), plugin_id=3, ts=6),
        # named by its name, as libsinsp's evt.type does
        '> container_added plugin_id=3 name=container_added data={"id":"abc"}',
        {
            "ts": 6,
            "tid": -1,
            "type": 402,
            "id": "PPME_ASYNCEVENT_E",
            "name": "container_added",
            "direction": ">",
            "params": {"plugin_id": 3, "name": "container_added", "data": '{"id":"abc"}'},
        },
    ),
]


@pytest.mark.parametrize(
    ("make", "text", "as_json"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN]
)
def test_golden(make: Any, text: str, as_json: dict[str, Any]) -> None:
    built = make()
    ev = decode(built.encode())
    assert ev.to_text() == text
    assert built.to_text() == text  # built values print the same as decoded ones
    assert ev.to_json() == as_json
    assert json.loads(json.dumps(ev.to_json())) == as_json


def _text(ptype: str, value: Any, fmt: str = "PF_DEC", table: str | None = None) -> str:
    return param_text(ParamSpec("p", "p", ptype, fmt, table), value)


@pytest.mark.parametrize(
    ("ptype", "fmt", "value", "expected"),
    [
        ("PT_UINT32", "PF_DEC", 0xFFFFFFFF, "-1"),  # C's %d of a u32, as libsinsp prints it
        ("PT_UINT8", "PF_DEC", 200, "200"),
        ("PT_INT32", "PF_HEX", -1, "FFFFFFFF"),
        ("PT_UINT64", "PF_HEX", 0xDEADBEEF, "DEADBEEF"),
        ("PT_UINT32", "PF_OCT", 0o755, "0755"),
        ("PT_UINT32", "PF_OCT", 0, "0"),
        ("PT_UINT32", "PF_10_PADDED_DEC", 42, "000000042"),
        ("PT_INT64", "PF_ID", -5, "-5"),
        ("PT_ERRNO", "PF_DEC", 0, "0"),
        ("PT_ERRNO", "PF_DEC", -13, "-13(EACCES)"),
        ("PT_FD", "PF_DEC", -100, "-100(AT_FDCWD)"),
        ("PT_FD32", "PF_DEC", 7, "7"),
        ("PT_SIGTYPE", "PF_DEC", 9, "9(SIGKILL)"),
        ("PT_SIGSET", "PF_DEC", 0b101, "SIGHUP SIGQUIT"),
        ("PT_RELTIME", "PF_DEC", 1_500_000_000, "1500000000(1.5s)"),
        ("PT_RELTIME", "PF_DEC", 2**64 - 1, "none"),
        ("PT_ABSTIME", "PF_DEC", 6, "1970-01-01 00:00:00.000000006 +0000"),
        ("PT_GID", "PF_DEC", 0, "0"),
        ("PT_BYTEBUF", "PF_NA", b"GET /\r\n\x00\xff", "GET /...."),
        ("PT_CHARBUF", "PF_NA", "a\x00b", "a"),
        ("PT_CHARBUF", "PF_NA", "bad\udcff", "bad\ufffd"),
        ("PT_FSPATH", "PF_NA", "/tmp/a\nb", "/tmp/ab"),
        ("PT_FDLIST", "PF_DEC", ((3, 1), (4, 0x19)), "3:?1 4:?19"),
        ("PT_CHARBUFARRAY", "PF_NA", ("a", "b"), "a.b"),
        ("PT_CHARBUF_PAIR_ARRAY", "PF_NA", (("k", "v"), ("x", "y")), "k:v,x:y"),
        ("PT_IPV4ADDR", "PF_HEX", IP("1.2.3.4"), "1.2.3.4"),
        ("PT_IPV6ADDR", "PF_HEX", IP("::1"), "::1"),
        ("PT_SOCKADDR", "PF_NA", SockAddrUnix("/run/x.sock"), "/run/x.sock"),
        ("PT_SOCKTUPLE", "PF_NA", SockTupleUnix(0, 0xFFFF1234, "/s"), "0->ffff1234 /s"),
        (
            "PT_SOCKTUPLE",
            "PF_NA",
            SockTupleV6(IP("::ffff:1.2.3.4"), 1, IP("::ffff:5.6.7.8"), 2),  # type: ignore[arg-type]
            "1.2.3.4:1->5.6.7.8:2",
        ),
        (
            "PT_SOCKTUPLE",
            "PF_NA",
            SockTupleV6(IP("2001:db8::1"), 1, IP("::2"), 2),  # type: ignore[arg-type]
            "2001:db8::1:1->::2:2",
        ),
        ("PT_UINT64", "PF_DEC", None, "<NA>"),
    ],
)
def test_param_text(ptype: str, fmt: str, value: Any, expected: str) -> None:
    assert _text(ptype, value, fmt) == expected


def test_flag_and_mode_names() -> None:
    assert _text("PT_FLAGS32", 0, "PF_HEX", "file_flags") == "0(O_NONE)"
    assert _text("PT_FLAGS32", 3, "PF_HEX", "file_flags") == "3(O_RDWR)"
    assert _text("PT_FLAGS32", 1 << 30, "PF_HEX", "file_flags") == str(1 << 30)
    assert _text("PT_ENUMFLAGS8", 2, "PF_DEC", "socket_families") == "2(AF_INET)"
    assert _text("PT_MODE", 0o640, "PF_OCT", "chmod_mode") == "0640(S_IRGRP|S_IWUSR|S_IRUSR)"


def test_dynamic_params_print_their_inner_type() -> None:
    cls = event_class("PPME_SOCKET_SETSOCKOPT_X")
    from falco_plugin.event import DynParam

    ev = Event(cls(res=0, fd=3, level=1, optname=2, val=DynParam(1, -2), optlen=8), ts=0, tid=0)
    assert "val=-2(ENOENT)" in decode(ev.encode()).to_text()
    assert decode(ev.encode()).to_json()["params"]["val"] == {"index": 1, "value": -2}


def test_absent_and_missing_params() -> None:
    cls = event_class("open", ">")
    assert Event(cls(), ts=0, tid=0).to_text() == "> open name=<NA> flags=<NA> mode=<NA>"
    assert Event(cls(name="/a"), ts=0, tid=0, nparams=1).to_text() == "> open name=/a"
    assert event_class("PPME_SYSCALL_CLOSE_RANGE_E")
    unix = Event(event_class("connect", ">")(fd=1, addr=SockAddrUnix("/x")), ts=0, tid=0)
    assert unix.to_json()["params"]["addr"] == {"family": "unix", "path": "/x"}
