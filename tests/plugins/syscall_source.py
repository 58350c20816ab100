"""A source of syscall events (no plugin id: it *is* the syscall source, as Falco's nodriver
engine opens it): a shell that forks a `cat`, which execs, opens and reads a file, connects a
socket, calls two syscalls libsinsp knows only as generic events, closes and exits.

libsinsp's own parsers turn the stream into thread and fd state. Every fixed-size parameter
has a value: libsinsp reads them unchecked (add_event refuses an empty one). Thread ids are
far above the pids of the machine, whose /proc libsinsp also reads.
"""

from __future__ import annotations

import ipaddress
import time

from falco_plugin import Eof, SourceInstance, SourcePlugin
from falco_plugin.event import Event, SockAddrV4, SockTupleV4, event_class

SHELL, CAT = 3_100_001, 3_100_002
O_RDONLY, AF_INET, SOCK_STREAM = 1, 2, 1
CLIENT, SERVER = ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("93.184.216.34")


def _process(tid: int, pid: int, ptid: int, exe: str, args: list[str], comm: str) -> dict:
    """The process parameters execve and clone exit events share."""
    return {
        "exe": exe,
        "args": b"".join(a.encode() + b"\0" for a in args),
        "tid": tid,
        "pid": pid,
        "ptid": ptid,
        "cwd": "/root",
        "fdlimit": 1024,
        "pgft_maj": 0,
        "pgft_min": 0,
        "vm_size": 1000,
        "vm_rss": 500,
        "vm_swap": 0,
        "comm": comm,
        "cgroups": b"cpu=/\0",
        "flags": 0,
        "uid": 0,
        "gid": 0,
    }


def script() -> list[tuple[str, str, int, dict]]:
    """(event, direction, tid, params) of the whole story, in order."""
    bash = _process(SHELL, SHELL, 1, "/usr/bin/bash", ["-c", "cat /etc/passwd"], "bash")
    child = {**bash, "tid": CAT, "pid": CAT, "ptid": SHELL}
    cat = _process(CAT, CAT, SHELL, "/usr/bin/cat", ["/etc/passwd"], "cat")
    execve = {"env": b"HOME=/root\0", "tty": 0, "vpgid": SHELL, "loginuid": 0,
              "trusted_exepath": None, "pgid": SHELL, "cap_inheritable": 0,
              "cap_permitted": 0, "cap_effective": 0, "exe_ino": 0, "exe_ino_ctime": 0,
              "exe_ino_mtime": 0}  # fmt: skip
    clone = {"pidns_init_start_ts": 0}
    tuple4 = SockTupleV4(CLIENT, 40000, SERVER, 443)
    return [
        ("execve", "<", SHELL, {"res": 0, **bash, **execve, "filename": "/usr/bin/bash"}),
        ("clone", "<", SHELL, {"res": CAT, **bash, **clone, "vtid": SHELL, "vpid": SHELL}),
        ("clone", "<", CAT, {"res": 0, **child, **clone, "vtid": CAT, "vpid": CAT}),
        ("execve", "<", CAT, {"res": 0, **cat, **execve, "filename": "/usr/bin/cat"}),
        ("openat", "<", CAT, {"fd": 3, "dirfd": -100, "name": "/etc/passwd", "flags": O_RDONLY,
                              "mode": 0, "dev": 0x803, "ino": 1234}),  # fmt: skip
        ("read", "<", CAT, {"res": 5, "data": b"root:", "fd": 3, "size": 5}),
        ("socket", "<", CAT, {"fd": 4, "domain": AF_INET, "type": SOCK_STREAM, "proto": 0,
                              "flags": 0}),  # fmt: skip
        ("connect", "<", CAT, {"res": 0, "tuple": tuple4, "fd": 4,
                               "addr": SockAddrV4(SERVER, 443)}),  # fmt: skip
        ("PPME_GENERIC_X", "", CAT, {"ID_": 75, "nativeID": 10}),  # mprotect
        ("PPME_GENERIC_X", "", CAT, {"ID_": 176, "nativeID": 228}),  # clock_gettime
        ("read", "<", CAT, {"res": 0, "data": b"", "fd": 3, "size": 4096}),
        ("close", "<", CAT, {"res": 0, "fd": 3}),
        ("procexit", ">", CAT, {"status": 0, "ret": 0, "sig": 0, "core": 0, "reaper_tid": 0}),
    ]


def events(t0: int) -> list[bytes]:
    out = []
    for n, (name, direction, tid, params) in enumerate(script()):
        cls = event_class(name, direction) if direction else event_class(name)
        out.append(Event(cls(**params), ts=t0 + n * 1000, tid=tid).encode())
    return out


class Instance(SourceInstance):
    def __init__(self) -> None:
        self.pending = events(time.time_ns())

    def next_batch(self, batch) -> None:
        for raw in self.pending:
            batch.add_event(raw)
        self.pending = []
        raise Eof


class SyscallSource(SourcePlugin):
    NAME = "syscall_source"
    VERSION = "1.0.0"
    DESCRIPTION = "A scripted stream of syscall events"
    CONTACT = "tests"

    def open(self, params: str) -> Instance:
        return Instance()
