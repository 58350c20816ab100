"""The event model's timed loops, shared by ``benchmarks/events.py`` (in this Python) and the
``bench_events`` plugin (inside a plugin library, where the C event functions serve them).

One buffer of N events back to back, a mix of common syscall events (open, openat, read,
write, close, connect, execve): header-only walk (``iter_events``), raw walk visiting every
parameter (``RawEvent.params``), typed decode of every parameter (``decode``), and building
typed events and encoding them. Every figure is the median of R runs, in events/s.
"""

from __future__ import annotations

import ipaddress
import statistics
import time
from collections.abc import Callable
from typing import Any

from falco_plugin.event import (
    Event,
    EventParams,
    SockAddrV4,
    SockTupleV4,
    decode,
    event_class,
    iter_events,
)


def mix() -> list[tuple[type[EventParams], dict[str, Any]]]:
    """The event kinds of the mix, with typical values."""
    ip_a, ip_b = ipaddress.IPv4Address("10.0.0.5"), ipaddress.IPv4Address("93.184.216.34")
    execve = {
        "res": 0,
        "exe": "/usr/bin/curl",
        "args": b"-s\x00https://example.com\x00",
        "tid": 4242,
        "pid": 4242,
        "ptid": 1,
        "cwd": "/home/user",
        "fdlimit": 1024,
        "pgft_maj": 0,
        "pgft_min": 120,
        "vm_size": 10240,
        "vm_rss": 2048,
        "vm_swap": 0,
        "comm": "curl",
        "cgroups": b"cpuset=/\x00cpu=/user.slice\x00memory=/user.slice\x00",
        "env": b"HOME=/home/user\x00PATH=/usr/bin:/bin\x00TERM=xterm\x00",
        "tty": 34816,
        "vpgid": 4242,
        "loginuid": 1000,
        "flags": 0,
        "cap_inheritable": 0,
        "cap_permitted": 0,
        "cap_effective": 0,
        "exe_ino": 393222,
        "exe_ino_ctime": 1_700_000_000_000_000_000,
        "exe_ino_mtime": 1_700_000_000_000_000_000,
        "uid": 1000,
        "trusted_exepath": "/usr/bin/curl",
        "pgid": 4242,
        "gid": 1000,
        "filename": "/usr/bin/curl",
    }
    return [
        (event_class("openat", ">"), {"dirfd": -100, "name": "lib/x.so", "flags": 1, "mode": 0}),
        (
            event_class("openat", "<"),
            {
                "fd": 3,
                "dirfd": -100,
                "name": "/etc/ld.so.cache",
                "flags": 4097,
                "mode": 0,
                "dev": 2051,
                "ino": 1234,
            },
        ),
        (event_class("open", "<"), {"fd": 4, "name": "/etc/passwd", "flags": 1, "mode": 0}),
        (event_class("read", ">"), {"fd": 3, "size": 832}),
        (event_class("read", "<"), {"res": 80, "data": bytes(range(80))}),
        (event_class("write", ">"), {"fd": 1, "size": 13}),
        (event_class("write", "<"), {"res": 13, "data": b"hello, world\n"}),
        (event_class("close", ">"), {"fd": 3}),
        (event_class("close", "<"), {"res": 0}),
        (
            event_class("connect", "<"),
            {
                "res": 0,
                "tuple": SockTupleV4(ip_a, 51234, ip_b, 443),
                "fd": 5,
                "addr": SockAddrV4(ip_b, 443),
            },
        ),
        (event_class("execve", "<"), execve),
    ]


def build_events(count: int) -> list[Event]:
    """``count`` typed events cycling through the mix."""
    kinds = mix()
    out = []
    for i in range(count):
        cls, values = kinds[i % len(kinds)]
        out.append(Event(cls(**values), ts=1_700_000_000_000_000_000 + i, tid=4242))
    return out


def median_rate(count: int, repeat: int, work: Callable[[], object]) -> float:
    """Events per second of ``work`` (which handles ``count`` events), median of runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def run(count: int, repeat: int, only: str = "") -> dict[str, float]:
    """The figures, as events per second (``only``: one of headers, raw_params, decode,
    build, the others are skipped; "setup": none runs, the buffer is only made)."""
    events = build_events(count)
    buf = b"".join(ev.encode() for ev in events)
    kinds = mix()
    specs = [kinds[i % len(kinds)] for i in range(count)]

    def headers() -> None:
        for _raw in iter_events(buf):
            pass

    def raw_params() -> None:
        for raw in iter_events(buf):
            raw.params()

    def typed() -> None:
        for raw in iter_events(buf):
            decode(raw)

    def build() -> None:
        for cls, values in specs:
            Event(cls(**values), ts=1, tid=2).encode()

    loops = {"headers": headers, "raw_params": raw_params, "decode": typed, "build": build}
    out = {
        f"py_{name}": median_rate(count, repeat, work)
        for name, work in loops.items()
        if not only or name == only
    }
    out["buffer_bytes"] = float(len(buf))
    return out
