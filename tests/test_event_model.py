"""The event model: every schema type round-trips, raw views, streams, helpers, bad input."""

from __future__ import annotations

import errno
import ipaddress
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from falco_plugin.event import (
    EVENT_CLASSES,
    EVENT_SCHEMA_VERSION,
    AbsTime,
    DynParam,
    EnumFlags,
    Errno,
    Event,
    EventFormatError,
    EventParams,
    Fd,
    Flags,
    Mode,
    RawEvent,
    RelPath,
    RelTime,
    Signal,
    SigSet,
    SockAddrOther,
    SockAddrUnix,
    SockAddrV4,
    SockAddrV6,
    SockTupleOther,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
    async_event,
    decode,
    event_class,
    iter_events,
    json_payload,
    payload_json,
    plugin_event,
)
from falco_plugin.event import framing as legacy
from falco_plugin.event._generated import DYNAMIC_TABLES, EVENT_TABLE
from falco_plugin.event.spec import ParamSpec

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "falco-event-schema.json"

_INT_RANGES = {
    "b": (-(2**7), 2**7 - 1),
    "h": (-(2**15), 2**15 - 1),
    "i": (-(2**31), 2**31 - 1),
    "q": (-(2**63), 2**63 - 1),
    "B": (0, 2**8 - 1),
    "H": (0, 2**16 - 1),
    "I": (0, 2**32 - 1),
    "Q": (0, 2**64 - 1),
}
_INT_TYPES = {
    "PT_INT8": "b",
    "PT_INT16": "h",
    "PT_INT32": "i",
    "PT_INT64": "q",
    "PT_UINT8": "B",
    "PT_UINT16": "H",
    "PT_UINT32": "I",
    "PT_UINT64": "Q",
    "PT_SYSCALLID": "H",
    "PT_PORT": "H",
    "PT_L4PROTO": "B",
    "PT_SOCKFAMILY": "B",
    "PT_BOOL": "I",
    "PT_FLAGS8": "B",
    "PT_FLAGS16": "H",
    "PT_FLAGS32": "I",
    "PT_ENUMFLAGS8": "B",
    "PT_ENUMFLAGS16": "H",
    "PT_ENUMFLAGS32": "I",
    "PT_UID": "I",
    "PT_GID": "I",
    "PT_SIGTYPE": "B",
    "PT_MODE": "I",
    "PT_SIGSET": "I",
    "PT_ERRNO": "q",
    "PT_FD": "q",
    "PT_PID": "q",
    "PT_FD32": "i",
    "PT_PID32": "i",
    "PT_RELTIME": "Q",
    "PT_ABSTIME": "Q",
}

_STRINGS = ["/etc/passwd", "", "h\u00e9llo w\u00f6rld", "raw\udcff\udcfebytes", "a\x00b"]
_SAMPLES: dict[str, list[Any]] = {
    "PT_CHARBUF": _STRINGS,
    "PT_FSPATH": _STRINGS,
    "PT_FSRELPATH": ["rel/path", "/abs", "", "x\udc80"],
    "PT_BYTEBUF": [b"\x00\x01\xff", b"hello world", bytes(range(256)), b"x" * 1000],
    "PT_NONE": [b"\x01"],
    "PT_SOCKADDR": [
        SockAddrV4(ipaddress.IPv4Address("10.1.2.3"), 8080),
        SockAddrV6(ipaddress.IPv6Address("2001:db8::1"), 443),
        SockAddrUnix("/var/run/docker.sock"),
        SockAddrUnix(""),
        SockAddrOther(0),
        SockAddrOther(16, b"\x01\x02\x03"),
    ],
    "PT_SOCKTUPLE": [
        SockTupleV4(
            ipaddress.IPv4Address("172.31.33.48"), 47263, ipaddress.IPv4Address("172.31.0.2"), 53
        ),
        SockTupleV6(ipaddress.IPv6Address("::1"), 1, ipaddress.IPv6Address("fe80::2"), 65535),
        SockTupleUnix(0, 0xFFFF98BC4ECF2000, "/var/run/nscd/socket"),
        SockTupleOther(16, b"netlink"),
    ],
    "PT_FDLIST": [((1, 1), (-1, 0xFFFF)), ((3, 5),), ()],
    "PT_CHARBUFARRAY": [("a", "b"), ("",), ("x\udcff", "", "z")],
    "PT_CHARBUF_PAIR_ARRAY": [(("k", "v"),), (("a", "b"), ("c", ""))],
    "PT_DOUBLE": [0.0, 1.5, -2.25e300],
    "PT_IPV4ADDR": [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv4Address("0.0.0.0")],
    "PT_IPV6ADDR": [ipaddress.IPv6Address("::"), ipaddress.IPv6Address("2001:db8::ff")],
    "PT_IPADDR": [ipaddress.IPv4Address("1.2.3.4"), ipaddress.IPv6Address("::2")],
    "PT_IPV4NET": [ipaddress.IPv4Network("10.0.0.1/32")],
    "PT_IPV6NET": [ipaddress.IPv6Network("fd00::1/128")],
    "PT_IPNET": [ipaddress.IPv4Network("192.168.1.1/32"), ipaddress.IPv6Network("::1/128")],
}


def int_samples(ptype: str) -> list[int]:
    """Several values of an integer type, its extremes included."""
    low, high = _INT_RANGES[_INT_TYPES[ptype]]
    return [0, 1, high, low, high // 3, -2 if low < 0 else 2]


def samples(spec: ParamSpec) -> list[Any]:
    """Deterministic example values for one parameter (several per type, edge cases too)."""
    if spec.type == "PT_DYN":
        out = []
        for index, (inner, _fmt) in enumerate(DYNAMIC_TABLES[spec.dynamic_table or ""]):
            inner_spec = ParamSpec("", "", inner, "PF_NA")
            out.extend(DynParam(index, v) for v in samples(inner_spec)[:2])
        return out
    if spec.type in _INT_TYPES:
        return int_samples(spec.type)
    return _SAMPLES[spec.type]


def variants(cls: type[EventParams], count: int = 6) -> list[EventParams]:
    """``count`` params objects of a type cycling through the samples, plus an all-absent one."""
    pools = [samples(spec) for spec in cls.PARAMS]
    out = [cls(*[pool[(k + i) % len(pool)] for i, pool in enumerate(pools)]) for k in range(count)]
    out.append(cls())
    return out


def sample_events() -> list[Event]:
    """Events of every schema type, with varied headers."""
    out = []
    for cls in EVENT_CLASSES:
        for k, params in enumerate(variants(cls)):
            out.append(Event(params, ts=1_700_000_000_000_000_000 + k, tid=(k * 7919) - 3))
    return out


ALL = sample_events()


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_every_type_round_trips(cls: type[EventParams]) -> None:
    for k, params in enumerate(variants(cls)):
        ev = Event(params, ts=k, tid=-k)
        data = ev.encode()
        back = decode(data)
        assert back == ev, (back, ev)
        assert back.encode() == data
        assert type(back.params) is cls
        raw = RawEvent.parse(data)
        assert (raw.ts, raw.tid, raw.len, raw.type, raw.nparams) == (
            k,
            -k,
            len(data),
            cls.CODE,
            len(cls.PARAMS),
        )
        for i, (codec, attr) in enumerate(zip(cls._CODECS, cls.__slots__, strict=True)):
            value = getattr(params, attr)
            assert raw.param(i).tobytes() == (b"" if value is None else codec.encode(value))


def test_class_facts_match_the_schema() -> None:
    assert len(EVENT_CLASSES) == len(EVENT_TABLE) == 454
    assert EVENT_SCHEMA_VERSION == "4.5.1"
    names = {cls.__name__ for cls in EVENT_CLASSES}
    assert len(names) == len(EVENT_CLASSES)
    open_e = event_class("PPME_SYSCALL_OPEN_E")
    assert open_e.__name__ == "SyscallOpenE"
    assert (open_e.CODE, open_e.NAME, open_e.DIRECTION) == (2, "open", ">")
    assert open_e.CATEGORY == ("EC_FILE", "EC_SYSCALL")
    assert [p.name for p in open_e.PARAMS] == ["name", "flags", "mode"]
    assert open_e.PARAMS[1].flags_table == "file_flags"
    assert event_class(3).DIRECTION == "<"
    assert event_class("PluginEventE").CODE == 322 and event_class("AsyncEventE").CODE == 402
    assert event_class("PPME_PLUGINEVENT_E").LARGE and not open_e.LARGE
    generic = event_class(0)
    assert generic.__slots__ == ("ID_", "nativeID")  # a reserved name gets a trailing _
    assert generic(ID_=5).as_dict() == {"ID": 5, "nativeID": None}


def test_event_class_by_name() -> None:
    assert event_class("open", ">").ID == "PPME_SYSCALL_OPEN_E"
    assert event_class("<openat").ID == "PPME_SYSCALL_OPENAT_2_X"
    assert event_class("execve", "<").ID == "PPME_SYSCALL_EXECVE_19_X"
    assert event_class("pluginevent").CODE == 322
    with pytest.raises(KeyError, match="direction"):
        event_class("open")
    with pytest.raises(KeyError):
        event_class("no-such-event")
    with pytest.raises(KeyError):
        event_class(100000)


def test_build_by_name_and_defaults() -> None:
    cls = event_class("openat", "<")
    ev = Event(cls(fd=3, dirfd=-100, name="etc/hosts", flags=1, mode=0, dev=0, ino=42))
    assert ev.ts == legacy.TS_NOW and ev.tid == -1
    raw = RawEvent.parse(ev.encode())
    assert raw.ts == 2**64 - 1 and raw.tid == -1
    back = decode(ev.encode())
    assert isinstance(back.params.name, RelPath)
    assert back.params.name == "etc/hosts" and back.params.name.dirfd == -100
    assert Event(cls(), tid=2**64 - 1).tid == -1


def test_value_types() -> None:
    ev = Event(event_class("open", "<")(fd=-2, name="/x", flags=0x41, mode=0o644, dev=1, ino=2))
    p = decode(ev.encode()).params
    assert isinstance(p.fd, Fd) and p.fd == -2
    assert isinstance(p.flags, Flags) and p.flags.names == ("O_NONBLOCK", "O_RDONLY")
    assert p.flags.table == "file_flags"
    assert Errno(-2).name == "ENOENT" and Errno(0).name is None
    assert Errno(-errno.EACCES).name == "EACCES"
    assert Signal(9).name == "SIGKILL"
    assert SigSet(0b11).names == ("SIGHUP", "SIGINT")
    assert RelTime(1_500_000_000).timedelta.total_seconds() == 1.5
    assert AbsTime(1_000_000_000).datetime.timestamp() == 1.0
    assert Mode(0o755).octal == "0755" and Mode(0).octal == "0"
    mode_cls = event_class("PPME_SYSCALL_FCHMODAT_X")
    mp = decode(Event(mode_cls(res=0, dirfd=-100, filename="f", mode=0o600)).encode()).params
    assert isinstance(mp.mode, Mode) and mp.mode.names == ("S_IWUSR", "S_IRUSR")
    socket_cls = event_class("PPME_SOCKET_SOCKET_E")
    sp = decode(Event(socket_cls(domain=1, type=1, proto=0)).encode()).params
    assert isinstance(sp.domain, EnumFlags) and sp.domain.names == ("AF_LOCAL", "AF_UNIX")
    assert sp.domain.name == "AF_LOCAL"


def test_ip_networks_carry_no_prefix() -> None:
    from falco_plugin.event.params import codec

    net = codec("PT_IPV4NET")
    assert net.encode(ipaddress.IPv4Address("1.2.3.4")) == bytes([1, 2, 3, 4])
    assert net.decode(bytes([1, 2, 3, 4]), 0, 4) == ipaddress.IPv4Network("1.2.3.4/32")
    with pytest.raises(ValueError, match="prefix"):
        net.encode(ipaddress.IPv4Network("10.0.0.0/8"))


def test_iter_events_over_a_stream() -> None:
    blobs = [ev.encode() for ev in ALL]
    stream = bytearray(b"".join(blobs))
    raws = list(iter_events(stream))
    assert len(raws) == len(ALL)
    offset = 0
    for raw, blob, ev in zip(raws, blobs, ALL, strict=True):
        assert raw.tobytes() == blob
        assert raw.view.obj is stream or raw.view.obj is not None  # a view, not a copy
        assert [p.tobytes() for p in raw.params()] == [
            raw.param(i).tobytes() for i in range(raw.nparams)
        ]
        assert decode(raw) == ev
        assert decode(stream, offset) == ev
        offset += len(blob)
    # the view shares the caller's memory
    first = raws[0]
    stream[0] ^= 0xFF
    assert first.view[0] == stream[0]


def test_raw_accessors() -> None:
    data = plugin_event(b"payload", plugin_id=7, ts=5).encode()
    raw = RawEvent.parse(memoryview(b"junk" + data)[4:])
    assert (raw.ts, raw.tid, raw.type, raw.nparams, raw.large) == (5, -1, 322, 2, True)
    assert raw.lengths == (4, 7) and raw.data_offset == 34
    assert raw.param(1).tobytes() == b"payload"
    assert struct.unpack("<I", raw.param(0))[0] == 7
    with pytest.raises(IndexError):
        raw.param(2)
    assert RawEvent.parse(b"xx" + data, 2).tobytes() == data
    assert "type=322" in repr(raw)


def test_fewer_params_than_the_schema() -> None:
    cls = event_class("execve", "<")
    full = variants(cls)[0]
    for n in (0, 1, 5, len(cls.PARAMS) - 1):
        ev = Event(full, ts=1, tid=2, nparams=n)
        data = ev.encode()
        back = decode(data)
        assert back.nparams == n and RawEvent.parse(data).nparams == n
        assert back.params.as_tuple()[n:] == (None,) * (len(cls.PARAMS) - n)
        assert back.encode() == data
    with pytest.raises(ValueError):
        Event(full, nparams=len(cls.PARAMS) + 1)


def test_more_params_than_the_schema_is_an_error() -> None:
    data = bytearray(Event(event_class("close", ">")(fd=3)).encode())
    extra = struct.pack("<QqIHI", 0, 0, len(data) + 2, 4, 2) + bytes(data[26:28]) + b"\0\0"
    with pytest.raises(EventFormatError, match="schema knows 1"):
        decode(extra + bytes(data[28:]))


def test_truncated_events() -> None:
    for ev in ALL[::37]:
        data = ev.encode()
        for cut in range(len(data)):
            with pytest.raises(EventFormatError):
                decode(data[:cut])
            if cut:
                with pytest.raises(EventFormatError):
                    list(iter_events(data + data[:cut]))


def test_inconsistent_lengths() -> None:
    data = bytearray(Event(event_class("close", ">")(fd=3)).encode())
    bad = bytearray(data)
    bad[26:28] = struct.pack("<H", 7)  # lengths no longer add up
    with pytest.raises(EventFormatError, match="add up"):
        RawEvent.parse(bad)
    bad = bytearray(data)
    bad[16:20] = struct.pack("<I", 10)  # shorter than a header
    with pytest.raises(EventFormatError, match="below the header"):
        RawEvent.parse(bad)
    bad = bytearray(data)
    bad[20:22] = struct.pack("<H", 60000)
    with pytest.raises(EventFormatError, match="unknown event type"):
        RawEvent.parse(bad)
    bad = bytearray(data)
    bad[22:26] = struct.pack("<I", 2**31)
    with pytest.raises(EventFormatError):
        RawEvent.parse(bad)


def _with_param(cls_name: str, index: int, payload: bytes) -> bytes:
    """An event of a type whose parameter ``index`` holds ``payload`` (others absent)."""
    cls = event_class(cls_name)
    n = len(cls.PARAMS)
    lengths = [0] * n
    lengths[index] = len(payload)
    width = "I" if cls.LARGE else "H"
    body = struct.pack(f"<{n}{width}", *lengths) + payload
    return struct.pack("<QqIHI", 0, -1, 26 + len(body), cls.CODE, n) + body


@pytest.mark.parametrize(
    ("cls_name", "index", "payload"),
    [
        ("PPME_SYSCALL_CLOSE_E", 0, b"\x01\x02\x03"),  # PT_FD is 8 bytes
        ("PPME_SYSCALL_OPEN_E", 1, b"\x01"),  # PT_FLAGS32 is 4 bytes
        ("PPME_SYSCALL_OPEN_E", 0, b"/etc/passwd"),  # no NUL terminator
        ("PPME_SOCKET_CONNECT_X", 1, b"\x02\x01\x02"),  # short AF_INET tuple
        ("PPME_SOCKET_CONNECT_X", 3, b"\x0a" + b"\0" * 5),  # short AF_INET6 address
        ("PPME_SOCKET_CONNECT_X", 3, b"\x01"),  # unix path without NUL
        ("PPME_SYSCALL_POLL_E", 0, b"\x02\x00" + b"\0" * 10),  # fdlist count 2, one entry
        ("PPME_SOCKET_SETSOCKOPT_X", 4, b"\x09\x00"),  # dynamic index out of range
        ("PPME_SOCKET_SETSOCKOPT_X", 4, b"\x02\x00"),  # dynamic u32 of 1 byte
        ("PPME_SYSCALL_EXECVE_19_E", 0, b"a\0b"),  # string array without final NUL
    ],
)
def test_wrong_param_sizes(cls_name: str, index: int, payload: bytes) -> None:
    cls = event_class(cls_name)
    assert index < len(cls.PARAMS)
    with pytest.raises(EventFormatError):
        decode(_with_param(cls_name, index, payload))


def test_encode_errors_name_the_param() -> None:
    with pytest.raises(ValueError, match="SyscallOpenE.flags"):
        Event(event_class("open", ">")(flags=-1)).encode()
    with pytest.raises(ValueError, match="SyscallCloseE.fd"):
        Event(event_class("close", ">")(fd="three")).encode()
    with pytest.raises(ValueError, match="too long"):
        Event(event_class("PPME_SYSCALL_OPEN_E")(name="x" * 70000)).encode()
    big = plugin_event(b"x" * 70000).encode()  # u32 lengths: large payloads fit
    assert decode(big).params.event_data == b"x" * 70000


def test_plugin_event_helpers() -> None:
    ev = plugin_event(b"hello", plugin_id=9, ts=12)
    data = ev.encode()
    assert data == legacy.encode_plugin_event(b"hello", ts=12, plugin_id=9)
    assert plugin_event("x").encode() == legacy.encode_plugin_event("x")
    old = legacy.PluginEvent.decode(data)
    assert (old.ts, old.plugin_id, old.payload) == (12, 9, b"hello")
    assert decode(data).params.event_data == b"hello"
    assert data[legacy.PAYLOAD_OFFSET :] == b"hello"


def test_async_event_and_json_payloads() -> None:
    ev = async_event("container_added", json_payload({"id": "abc", "n": 1}), plugin_id=3, ts=4)
    data = ev.encode()
    back = decode(data)
    assert back.params.name == "container_added" and back.params.plugin_id == 3
    assert back.tid == -1 and back.type == 402
    assert payload_json(data) == {"id": "abc", "n": 1}
    assert payload_json(back) == {"id": "abc", "n": 1}
    assert json_payload({"k": "\u00e9", "l": [1, 2]}) == '{"k":"\u00e9","l":[1,2]}'.encode()
    assert payload_json(plugin_event(json_payload([1, "a"]))) == [1, "a"]
    assert payload_json(RawEvent.parse(plugin_event(b"null").encode())) is None
    with pytest.raises(EventFormatError, match="not JSON"):
        payload_json(plugin_event(b"{"))
    with pytest.raises(EventFormatError, match="no JSON payload"):
        payload_json(Event(event_class("close", ">")(fd=1)))
    assert async_event("a", tid=77).tid == 77


def test_repr_and_equality() -> None:
    a = Event(event_class("close", ">")(fd=3), ts=1, tid=1)
    b = Event(event_class("close", ">")(fd=3), ts=1, tid=1)
    assert a == b and repr(a) == "Event(ts=1, tid=1, params=SyscallCloseE(fd=3))"
    assert a != Event(event_class("close", ">")(fd=4), ts=1, tid=1)
    assert a.params != event_class("close", "<")()
    assert repr(RelPath("p", 3)) == "RelPath('p', dirfd=3)"
    assert repr(Flags(1)) == "Flags(1)"
    assert "SockAddrV4(addr=IPv4Address('1.2.3.4'), port=1)" == repr(
        SockAddrV4(ipaddress.IPv4Address("1.2.3.4"), 1)
    )
    assert json.dumps(a.to_json())


def test_generated_module_is_up_to_date() -> None:
    if not SCHEMA.exists():
        pytest.skip("the shared schema is not next to the checkout")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_events
    finally:
        sys.path.pop(0)
    schema = json.loads(SCHEMA.read_text())
    for path, text in gen_events.generate_python(schema, SCHEMA.name).items():
        assert text == path.read_text(), f"run scripts/gen_events.py ({path.name})"
    sc_max = len(gen_events.ppm_sc_names(schema))
    checks = gen_events.gen_event_checks.generate_c(schema, SCHEMA.name, sc_max)
    assert checks == gen_events.gen_event_checks.OUTPUT.read_text(), "run scripts/gen_events.py"
    layouts = gen_events.generate_c(schema, SCHEMA.name)
    assert layouts == gen_events.C_OUTPUT.read_text(), "run scripts/gen_events.py"


def test_generated_module_builds_its_classes_lazily() -> None:
    """Importing the event model stays cheap because no params class is made until it is
    used, and none of the modules that only the tables, decoding, text or captures need is
    imported (struct neither: its codecs need it, not the C walker). (A property, not a
    time: the import cost is reported by benchmarks, never asserted.)"""
    code = """
import json, sys
from falco_plugin.event import decode
import falco_plugin.event._generated as g
def made():
    return [c.__name__ for c in g.EVENT_CLASSES.made if c is not None]
late = ["falco_plugin.event._generated_tables", "falco_plugin.event.params",
        "falco_plugin.event._address_codecs", "falco_plugin.event.text",
        "falco_plugin.event.capture", "falco_plugin.event.plugin", "typing", "ipaddress",
        "datetime", "signal", "struct"]
before = [made(), [m for m in late if m in sys.modules]]
g.EVENT_CLASSES[3].CODE  # the first use of one class makes that class only
after = [made(), [m for m in late if m in sys.modules]]
g.SocketConnectX  # a class with an address parameter: its codecs import ipaddress
print(json.dumps([before, after, made(), "ipaddress" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, made, ipaddress_loaded = json.loads(out.stdout)
    assert before == [[], []]
    assert after == [
        ["SyscallOpenX"],
        ["falco_plugin.event._generated_tables", "falco_plugin.event.params", "struct"],
    ]
    assert made == ["SyscallOpenX", "SocketConnectX"] and ipaddress_loaded
