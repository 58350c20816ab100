"""Event model benchmark: events parsed and built per second, next to a C reference walk.

    python benchmarks/events.py [--events N] [--repeat R]

One buffer of N events back to back (a mix of common syscall events: open, openat, read,
write, close, connect, execve). Python: header-only walk (``iter_events``), raw walk visiting
every parameter (``RawEvent.params``), typed decode of every parameter (``decode``), and
building typed events and encoding them. C (``c_reference/event_parse_ref.c``, compiled with
cc into a temporary directory and called through ctypes on the same buffer): a header walk
and a walk that reads every parameter. Every figure is the median of R runs.
"""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from falco_plugin.event import (
    EVENT_CLASSES,
    Event,
    EventParams,
    SockAddrV4,
    SockTupleV4,
    decode,
    event_class,
    iter_events,
)

HERE = Path(__file__).resolve().parent


def _mix() -> list[tuple[type[EventParams], dict[str, Any]]]:
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
    mix = _mix()
    out = []
    for i in range(count):
        cls, values = mix[i % len(mix)]
        out.append(Event(cls(**values), ts=1_700_000_000_000_000_000 + i, tid=4242))
    return out


def build_c_reference(out_dir: Path) -> ctypes.CDLL:
    """Compile the C walker into ``out_dir`` and load it."""
    lib = out_dir / "libevent_parse_ref.so"
    cc = os.environ.get("CC", "cc")
    src = HERE / "c_reference" / "event_parse_ref.c"
    subprocess.run([cc, "-O2", "-fPIC", "-shared", str(src), "-o", str(lib)], check=True)
    dll = ctypes.CDLL(str(lib))
    for fn in (dll.walk_headers, dll.walk_params):
        fn.restype = ctypes.c_long
        fn.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_uint64),
        ]
    return dll


def _median_rate(count: int, repeat: int, work: Callable[[], object]) -> float:
    """Events per second of ``work`` (which handles ``count`` events), median of runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def run(count: int, repeat: int) -> dict[str, float]:
    """All the figures, as events per second."""
    events = build_events(count)
    buf = b"".join(ev.encode() for ev in events)
    mix = _mix()
    specs = [(mix[i % len(mix)][0], mix[i % len(mix)][1]) for i in range(count)]

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

    large = bytes(int(cls.LARGE) for cls in EVENT_CLASSES)
    out = {
        "py_headers": _median_rate(count, repeat, headers),
        "py_raw_params": _median_rate(count, repeat, raw_params),
        "py_decode": _median_rate(count, repeat, typed),
        "py_build": _median_rate(count, repeat, build),
    }
    with tempfile.TemporaryDirectory() as tmp:
        dll = build_c_reference(Path(tmp))
        acc = ctypes.c_uint64()

        def c_walk(fn: Any) -> Callable[[], object]:
            def go() -> None:
                got = fn(buf, len(buf), large, len(large), ctypes.byref(acc))
                if got != count:
                    raise RuntimeError(f"C walker returned {got}")

            return go

        out["c_headers"] = _median_rate(count, repeat, c_walk(dll.walk_headers))
        out["c_params"] = _median_rate(count, repeat, c_walk(dll.walk_params))
    out["buffer_bytes"] = float(len(buf))
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print a table; returns the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    res = run(args.events, args.repeat)
    print(f"{args.events} events, {res['buffer_bytes'] / args.events:.0f} bytes/event on average")
    rows = [
        ("header walk", "py_headers", "c_headers"),
        ("every param, raw", "py_raw_params", "c_params"),
        ("every param, typed decode", "py_decode", "c_params"),
        ("build + encode", "py_build", None),
    ]
    print(f"{'':28}{'Python ev/s':>14}{'ns/ev':>9}{'C ev/s':>16}{'C/Python':>10}")
    for label, py, c in rows:
        rate = res[py]
        line = f"{label:28}{rate:14,.0f}{1e9 / rate:9,.0f}"
        if c is not None:
            line += f"{res[c]:16,.0f}{res[c] / rate:10.1f}"
        print(line)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
