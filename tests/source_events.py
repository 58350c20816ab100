"""Events a syscall source offers the host, for the add_event tests: a valid event of every
type, and bad events of every kind libsinsp mishandles (each with a word of its refusal).

Valid events run in the context of the syscall_source story (a cat with fd 3 on a file and
fd 4 on a socket), so that libsinsp's parsers find their thread and fds and go the whole way.
"""

from __future__ import annotations

import ipaddress
import random
import struct
import sys
from pathlib import Path
from typing import Any

from falco_plugin.event import (
    DYNAMIC_TABLES,
    EVENT_CLASSES,
    DynParam,
    Event,
    EventParams,
    ParamSpec,
    RawEvent,
    SockAddrV4,
    SockTupleV4,
    event_class,
)
from falco_plugin.event._generated import PPM_SC_NAMES
from falco_plugin.event.framing import encode_plugin_event
from falco_plugin.event.params import codec

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins"))
import syscall_source  # noqa: E402

sys.path.pop(0)

TID = syscall_source.CAT
IP_A, IP_B = ipaddress.IPv4Address("10.0.0.5"), ipaddress.IPv4Address("93.184.216.34")
#: a value of each variable-size type, and of the integer types that name something here
VALUES: dict[str, Any] = {
    "PT_CHARBUF": "/etc/passwd",
    "PT_FSPATH": "/etc/passwd",
    "PT_FSRELPATH": "etc/passwd",
    "PT_BYTEBUF": b"root:",
    "PT_SOCKADDR": SockAddrV4(IP_B, 443),
    "PT_SOCKTUPLE": SockTupleV4(IP_A, 40000, IP_B, 443),
    "PT_FDLIST": ((3, 1),),
    "PT_CHARBUFARRAY": None,  # libsinsp formats these as pointers: only empty ones pass
    "PT_CHARBUF_PAIR_ARRAY": None,
    "PT_DOUBLE": 1.5,
    "PT_IPV4ADDR": IP_A,
    "PT_IPV6ADDR": ipaddress.IPv6Address("::1"),
    "PT_IPADDR": IP_A,
    "PT_IPV4NET": ipaddress.IPv4Network("10.0.0.5/32"),
    "PT_IPV6NET": ipaddress.IPv6Network("::1/128"),
    "PT_IPNET": ipaddress.IPv4Network("10.0.0.5/32"),
    "PT_FD": 3,
    "PT_FD32": 3,
    "PT_PID": TID,
    "PT_PID32": TID,
    "PT_ERRNO": 0,
    "PT_SYSCALLID": 176,  # clock_gettime: libsinsp has no event type of its own for it
}
#: values that depend on the event: a thread is never its own reaper
OVERRIDES: dict[str, dict[str, Any]] = {"PPME_PROCEXIT_1_E": {"reaper_tid": syscall_source.SHELL}}
#: what no source may emit whatever its parameters
REFUSED_TYPES = {"PPME_CPU_HOTPLUG_E"}
#: fixed-size parameters that drivers leave empty
MAY_BE_EMPTY = {("PPME_SOCKET_SENDMSG_X", "size")}


def value(spec: ParamSpec) -> Any:
    """A valid value of one parameter."""
    if spec.type == "PT_DYN":
        inner, _fmt = DYNAMIC_TABLES[spec.dynamic_table or ""][0]
        return DynParam(0, value(ParamSpec("", "", inner, "PF_NA")))
    return VALUES.get(spec.type, 1)


def is_fixed(ptype: str) -> bool:
    """Whether parameters of this type have one size (integers, fixed addresses, ...)."""
    return ptype != "PT_DYN" and codec(ptype).size is not None


def emittable(cls: type[EventParams]) -> bool:
    """Whether a source may emit events of this type at all."""
    return "EF_UNUSED" not in cls.FLAGS and cls.ID not in REFUSED_TYPES


def encode(cls: type[EventParams], replace: dict[int, bytes] | None = None, **kw: Any) -> bytes:
    """A valid event of ``cls`` (``kw`` overrides values), with some parameters' bytes
    replaced (``replace``: index -> bytes) after encoding."""
    values = {s.attr: value(s) for s in cls.PARAMS}
    values.update(OVERRIDES.get(cls.ID, {}))
    values.update(kw)
    raw = Event(cls(**values), ts=2_000, tid=TID).encode()
    if not replace:
        return raw
    params = [bytes(p) for p in RawEvent.parse(raw).params()]
    for index, data in replace.items():
        params[index] = data
    return frame(cls.CODE, params, large=cls.LARGE)


def frame(etype: int, params: list[bytes], *, large: bool = False, ts: int = 2_000) -> bytes:
    """An event of any type with these parameter bytes (no check: for bad events)."""
    lengths = struct.pack(f"<{len(params)}{'I' if large else 'H'}", *map(len, params))
    body = lengths + b"".join(params)
    return struct.pack("<QqIHI", ts, TID, 26 + len(body), etype, len(params)) + body


def with_lengths(etype: int, lengths: list[int], size: int) -> bytes:
    """An event whose parameter lengths say ``lengths`` over ``size`` bytes of values."""
    body = struct.pack(f"<{len(lengths)}H", *lengths) + b"\1" * size
    return struct.pack("<QqIHI", 2_000, TID, 26 + len(body), etype, len(lengths)) + body


def story() -> list[bytes]:
    """The syscall_source story up to the connect: threads and fds for what follows."""
    return syscall_source.events(1_000)[:8]


def valid_events() -> list[tuple[str, bytes]]:
    """A valid event of every type a source may emit, and valid variants: empty
    variable-size parameters, the driver's empty sendmsg size, extra parameters."""
    out = [(cls.ID, encode(cls)) for cls in EVENT_CLASSES if emittable(cls)]
    for cls in EVENT_CLASSES:
        if emittable(cls):
            for i, spec in enumerate(cls.PARAMS):
                if not is_fixed(spec.type) or (cls.ID, spec.name) in MAY_BE_EMPTY:
                    out.append((f"{cls.ID} without {spec.name}", encode(cls, {i: b""})))
    close = event_class("close", "<")
    params = [bytes(p) for p in RawEvent.parse(encode(close)).params()]
    out.append(("close with a parameter of a newer driver", frame(close.CODE, [*params, b"x"])))
    return out


def _ev(name: str, direction: str | None = None) -> type[EventParams]:
    return event_class(name, direction) if direction else event_class(name)


def bad_events() -> list[tuple[str, bytes, str]]:
    """(what, event, a word of its refusal) for each kind of event libsinsp mishandles."""
    generic, open_x, close_x = _ev("PPME_GENERIC_X"), _ev("open", "<"), _ev("close", "<")
    openat, connect = _ev("openat", "<"), _ev("connect", "<")
    getsockopt, poll, task = _ev("getsockopt", "<"), _ev("poll", "<"), _ev("PPME_ITER_TASK_E")
    fields = {c: [s.name for s in c.PARAMS] for c in (openat, connect, getsockopt, poll, task)}
    open_params = [bytes(p) for p in RawEvent.parse(encode(open_x)).params()]
    hotplug = _ev("PPME_CPU_HOTPLUG_E")
    return [
        ("generic event beyond the syscall table (SIGSEGV)",
         encode(generic, ID_=60_000), "beyond libsinsp's syscall table"),
        ("generic event just past the table", encode(_ev("PPME_GENERIC_E"), ID_=len(PPM_SC_NAMES)),
         "beyond libsinsp's syscall table"),
        ("unknown event type", frame(len(EVENT_CLASSES), []), "unknown event type"),
        ("event type 65535", frame(0xFFFF, [b"\0" * 8]), "unknown event type"),
        ("unused event type", encode(_ev("PPME_TRACER_X")), "no driver emits"),
        ("CPU hotplug (libsinsp aborts)", encode(hotplug), "stops the capture"),
        ("fewer parameters than the type", frame(open_x.CODE, open_params[:4]),
         "fewer parameters"),
        ("an int64 of 3 bytes", encode(close_x, {0: b"\0\0\0"}), "wrong size"),
        ("an empty fd", encode(open_x, {0: b""}), "is empty"),
        ("cut short", frame(close_x.CODE, [b"\0" * 8, b"\0" * 8])[:-4], "header length"),
        ("lengths adding up to less", with_lengths(close_x.CODE, [8, 8], 17),
         "add up to less"),
        ("lengths adding up to more", with_lengths(close_x.CODE, [8, 9], 16),
         "add up to more"),
        ("a string without its NUL", encode(openat, {fields[openat].index("name"): b"/etc"}),
         "end with its NUL"),
        ("a string with a NUL inside",
         encode(openat, {fields[openat].index("name"): b"/etc\0passwd\0"}), "one string"),
        ("a short AF_INET address", encode(connect, {fields[connect].index("addr"): b"\x02\1"}),
         "shorter than its family"),
        ("an AF_UNIX tuple without its NUL",
         encode(connect, {fields[connect].index("tuple"): b"\x01" + b"\0" * 16 + b"/s"}),
         "end with its NUL"),
        ("an fd list longer than its bytes",
         encode(poll, {fields[poll].index("fds"): b"\x05\0\3\0\0\0\0\0\0\0\1\0"}), "fd list"),
        ("a dynamic parameter outside its table",
         encode(getsockopt, {fields[getsockopt].index("val"): b"\x63" + b"\0" * 8}),
         "outside its table"),
        ("a dynamic parameter of the wrong size",
         encode(getsockopt, {fields[getsockopt].index("val"): b"\x01\0"}), "wrong size"),
        ("a string array (SIGSEGV when formatted)",
         encode(task, {fields[task].index("argv"): b"cat\0"}), "as a pointer"),
        ("a plugin event without a plugin id", encode_plugin_event(b"x"), "needs a plugin id"),
        ("the same with a parameter of a newer driver",
         frame(322, [b"\0" * 4, b"x", b"y"], large=True), "needs a plugin id"),
        ("a thread its own reaper", encode(_ev("procexit", ">"), reaper_tid=TID),
         "not its own reaper"),
        ("shorter than a header", b"\0" * 20, "shorter than an event header"),
    ]  # fmt: skip


def mutated(events: list[bytes], count: int, seed: int) -> list[bytes]:
    """``count`` events made from ``events`` by damaging one parameter each (bytes changed,
    cut, extended or replaced) and sometimes the thread: most are refused, the others must
    be events libsinsp takes."""
    rng = random.Random(seed)
    threads = [syscall_source.SHELL, TID, 1, 0, -1]
    out = []
    for _ in range(count):
        ev = RawEvent.parse(rng.choice(events))
        params = [bytearray(p) for p in ev.params()]
        if params:
            i = rng.randrange(len(params))
            p, op = params[i], rng.random()
            if p and op < 0.4:
                for _ in range(rng.randint(1, 3)):
                    p[rng.randrange(len(p))] = rng.choice([0, 1, 2, 10, 0x7F, 0x80, 0xFF])
            elif p and op < 0.6:
                del p[rng.randrange(len(p)) :]
            elif op < 0.8:
                p += rng.randbytes(rng.randint(1, 20))
            else:
                params[i] = bytearray(rng.randbytes(rng.choice([0, 1, 2, 3, 4, 7, 8, 13, 16])))
        raw = frame(ev.type, [bytes(p) for p in params], large=ev.large)
        if rng.random() < 0.3:
            raw = raw[:8] + struct.pack("<q", rng.choice(threads)) + raw[16:]
        out.append(raw)
    return out
