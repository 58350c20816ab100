"""Captures for the replay tests: a process list and an event sequence that exercise libsinsp's
parsers the way a real system does (a shell forks and execs a command that opens, reads and
closes files, talks over TCP and UDP, pipes, dups, starts a thread, changes user and
directory, and exits; a server accepts; events from threads the process list lacks)."""

from __future__ import annotations

import copy
import ipaddress
import random
import struct
from pathlib import Path
from typing import Any

from falco_plugin.event import (
    Event,
    SockAddrUnix,
    SockAddrV4,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
    event_class,
)
from falco_plugin.event._generated import EVENT_TABLE
from falco_plugin.event.capture import (
    CaptureWriter,
    FdInfo,
    FdType,
    Group,
    MachineInfo,
    ThreadInfo,
    User,
    write_capture,
)
from falco_plugin.event.convert import ConversionError, Converter
from falco_plugin.event.raw import RawEvent

T0 = 1_700_000_000_000_000_000
IP = ipaddress.ip_address
CLONE_FILES, CLONE_FS, CLONE_SIGHAND = 1 << 0, 1 << 1, 1 << 11
CLONE_THREAD, CLONE_VM, CLONE_VFORK = 1 << 13, 1 << 15, 1 << 27
AT_FDCWD = -100
O_RDONLY, O_WRONLY, O_CREAT, O_CLOEXEC, O_DIRECTORY = 1, 2, 4, 1 << 12, 1 << 10
SHELL, SSHD, INIT = 90, 50, 1


def process_list() -> list[ThreadInfo]:
    tty = [FdInfo(k, FdType.FILE_V2, "/dev/pts/0", ino=3, open_flags=2, dev=0x19) for k in range(3)]
    return [
        ThreadInfo(tid=INIT, pid=INIT, ptid=0, sid=1, vpgid=1, pgid=1, comm="systemd",
                   exe="/sbin/init", exepath="/usr/lib/systemd/systemd", args=("splash",),
                   cwd="/", fdlimit=1024, uid=0, gid=0, vtid=1, vpid=1, root="/",
                   cgroups=("cpu=/init.scope",)),
        ThreadInfo(tid=SSHD, pid=SSHD, ptid=INIT, sid=SSHD, vpgid=SSHD, pgid=SSHD, comm="sshd",
                   exe="sshd", exepath="/usr/sbin/sshd", args=("-D",), cwd="/", fdlimit=1024,
                   uid=0, gid=0, vtid=SSHD, vpid=SSHD, root="/", loginuid=0xFFFFFFFF,
                   fds=[FdInfo(3, FdType.IPV4_SERVSOCK, sip=IP("0.0.0.0"), sport=22, l4proto=2)]),
        ThreadInfo(tid=SHELL, pid=SHELL, ptid=SSHD, sid=SHELL, vpgid=SHELL, pgid=SHELL,
                   comm="bash", exe="-bash", exepath="/usr/bin/bash", cwd="/home/alice",
                   fdlimit=1024, uid=1000, gid=1000, vtid=SHELL, vpid=SHELL, loginuid=1000,
                   env=("HOME=/home/alice", "PATH=/usr/bin"), tty=34816, root="/",
                   cgroups=("cpu=/user.slice",), fds=tty),
    ]  # fmt: skip


def users() -> tuple[list[User], list[Group]]:
    return (
        [User(0, 0, "root", "/root", "/bin/bash"), User(1000, 1000, "alice", "/home/alice",
                                                        "/bin/bash")],
        [Group(0, "root"), Group(1000, "alice")],
    )  # fmt: skip


def machine() -> MachineInfo:
    return MachineInfo(num_cpus=4, memory_size_bytes=8 << 30, max_pid=32768,
                       hostname="replay-host", boot_ts_epoch=T0 - 3600 * 10**9)  # fmt: skip


class Seq:
    """Builds events one after the other, 1 µs apart."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, event: str, direction: str, thread: int, **params: Any) -> None:
        ts = T0 + (len(self.events) + 1) * 1000
        self.events.append(Event(event_class(event, direction)(**params), ts=ts, tid=thread))

    def clone(self, event: str, tid: int, res: int, *, pid: int, ptid: int, comm: str,
              exe: str, args: bytes = b"", flags: int = 0, cwd: str = "/home/alice",
              uid: int = 1000, gid: int = 1000, vtid: int | None = None,
              vpid: int | None = None, pidns_start: int = 0) -> None:  # fmt: skip
        self.add(event, "<", tid, res=res, exe=exe, args=args, tid=tid, pid=pid, ptid=ptid,
                 cwd=cwd, fdlimit=1024, pgft_maj=0, pgft_min=10, vm_size=1000, vm_rss=500,
                 vm_swap=0, comm=comm, cgroups=b"cpu=/user.slice\0", flags=flags, uid=uid,
                 gid=gid, vtid=tid if vtid is None else vtid, vpid=pid if vpid is None else vpid,
                 pidns_init_start_ts=pidns_start)  # fmt: skip

    def execve(self, tid: int, pid: int, ptid: int, *, filename: str, exe: str, args: bytes,
               comm: str, exepath: str, uid: int = 1000) -> None:  # fmt: skip
        self.add("execve", ">", tid, filename=filename)
        self.add("execve", "<", tid, res=0, exe=exe, args=args, tid=tid, pid=pid, ptid=ptid,
                 cwd="", fdlimit=1024, pgft_maj=1, pgft_min=2, vm_size=3000, vm_rss=700,
                 vm_swap=0, comm=comm, cgroups=b"cpu=/user.slice\0",
                 env=b"HOME=/home/alice\0LANG=C\0", tty=34816, vpgid=pid, loginuid=1000,
                 flags=0, cap_inheritable=0, cap_permitted=0, cap_effective=0, exe_ino=4242,
                 exe_ino_ctime=T0 - 10**9, exe_ino_mtime=T0 - 2 * 10**9, uid=uid,
                 trusted_exepath=exepath, pgid=pid, gid=1000, filename=filename)  # fmt: skip


def scenario() -> list[Event]:
    """The event sequence (see the module docstring)."""
    s = Seq()
    tuple4 = SockTupleV4(IP("10.0.0.5"), 40000, IP("93.184.216.34"), 443)
    # the shell forks a child (the caller's exit first, then the child's)
    s.clone("clone", SHELL, 200, pid=SHELL, ptid=SSHD, comm="bash", exe="-bash")
    s.clone("clone", 200, 0, pid=200, ptid=SHELL, comm="bash", exe="-bash")
    s.add("read", "<", SHELL, res=5, data=b"hello", fd=0, size=5)
    s.execve(200, 200, SHELL, filename="/usr/bin/cat", exe="cat", args=b"notes.txt\0",
             comm="cat", exepath="/usr/bin/cat")  # fmt: skip
    # files: relative to the cwd, absolute, a failure, a directory, openat2 and creat
    s.add("open", ">", 200, name="notes.txt", flags=O_RDONLY, mode=0)
    s.add("open", "<", 200, fd=3, name="notes.txt", flags=O_RDONLY, mode=0, dev=0x803, ino=77)
    s.add("read", "<", 200, res=11, data=b"hello world", fd=3, size=4096)
    s.add("openat", ">", 200, dirfd=AT_FDCWD, name="/etc/hosts", flags=O_RDONLY | O_CLOEXEC,
          mode=0)  # fmt: skip
    s.add("openat", "<", 200, fd=4, dirfd=AT_FDCWD, name="/etc/hosts",
          flags=O_RDONLY | O_CLOEXEC, mode=0, dev=0x803, ino=78)  # fmt: skip
    s.add("openat", "<", 200, fd=-2, dirfd=AT_FDCWD, name="missing", flags=O_RDONLY, mode=0,
          dev=0, ino=0)  # fmt: skip
    s.add("openat", "<", 200, fd=5, dirfd=AT_FDCWD, name="/etc", flags=O_DIRECTORY, mode=0,
          dev=0x803, ino=2)  # fmt: skip
    s.add("openat", "<", 200, fd=6, dirfd=5, name="passwd", flags=O_RDONLY, mode=0, dev=0x803,
          ino=79)  # fmt: skip
    s.add("fstat", "<", 200, res=0, fd=6)
    s.add("close", "<", 200, res=0, fd=3)
    s.add("read", "<", 200, res=-9, data=b"", fd=3, size=10)
    s.add("creat", "<", 200, fd=3, name="out.log", mode=0o644, dev=0x803, ino=90,
          creat_flags=0)  # fmt: skip
    s.add("write", "<", 200, res=3, data=b"abc", fd=3, size=3)
    s.add("chdir", "<", 200, res=0, path="/tmp/../var/./log")
    s.add("openat2", "<", 200, fd=7, dirfd=AT_FDCWD, name="syslog", flags=O_RDONLY, mode=0,
          resolve=0, dev=0x803, ino=91)  # fmt: skip
    s.add("fchdir", "<", 200, res=0, fd=5)
    s.add("getcwd", "<", 200, res=0, path="/etc")
    # networking: a TCP client, a UDP client, a unix socket, a pipe and dups
    s.add("socket", "<", 200, fd=8, domain=2, type=1, proto=0, flags=0)
    s.add("connect", ">", 200, fd=8, addr=SockAddrV4(IP("93.184.216.34"), 443))
    s.add("connect", "<", 200, res=0, tuple=tuple4, fd=8,
          addr=SockAddrV4(IP("93.184.216.34"), 443))  # fmt: skip
    s.add("write", "<", 200, res=4, data=b"GET ", fd=8, size=4)
    s.add("socket", "<", 200, fd=9, domain=2, type=2, proto=0, flags=0)
    s.add("sendto", "<", 200, res=4, data=b"ping", fd=9, size=4,
          tuple=SockTupleV4(IP("10.0.0.5"), 5353, IP("10.0.0.1"), 53))  # fmt: skip
    s.add("recvfrom", "<", 200, res=4, data=b"pong",
          tuple=SockTupleV4(IP("10.0.0.1"), 53, IP("10.0.0.5"), 5353), fd=9, size=512)  # fmt: skip
    s.add("socket", "<", 200, fd=10, domain=10, type=1, proto=6, flags=0)
    s.add(
        "connect",
        "<",
        200,
        res=0,
        fd=10,
        tuple=SockTupleV6(IP("2001:db8::5"), 41000, IP("2001:db8::80"), 8080),
        addr=None,
    )
    s.add("socket", "<", 200, fd=11, domain=1, type=1, proto=0, flags=0)
    s.add("connect", "<", 200, res=0, fd=11, addr=SockAddrUnix("/run/app.sock"),
          tuple=SockTupleUnix(0xFFFF0001, 0xFFFF0002, "/run/app.sock"))  # fmt: skip
    s.add("pipe", "<", 200, res=0, fd1=12, fd2=13, ino=5555)
    s.add("dup2", "<", 200, res=1, oldfd=12, newfd=1)
    s.add("fcntl", "<", 200, res=14, fd=8, cmd=1, arg=14)
    s.add("eventfd2", "<", 200, res=15, flags=0, initval=0)
    s.add("close", "<", 200, res=-9, fd=99)
    # a thread of the child, sharing its fds; it reads and exits
    s.clone(
        "clone",
        200,
        201,
        pid=200,
        ptid=SHELL,
        comm="cat",
        exe="cat",
        flags=CLONE_THREAD | CLONE_FILES | CLONE_VM | CLONE_FS | CLONE_SIGHAND,
    )
    s.clone(
        "clone",
        201,
        0,
        pid=200,
        ptid=SHELL,
        comm="cat",
        exe="cat",
        flags=CLONE_THREAD | CLONE_FILES | CLONE_VM | CLONE_FS | CLONE_SIGHAND,
    )
    s.add("read", "<", 201, res=3, data=b"GET", fd=8, size=3)
    s.add("procexit", ">", 201, status=0, ret=0, sig=0, core=0, reaper_tid=0)
    # credentials and limits
    s.add("setuid", "<", 200, res=0, uid=0)
    s.add("setgid", "<", 200, res=0, gid=0)
    s.add("prlimit", "<", 200, res=0, newcur=4096, newmax=4096, oldcur=1024, oldmax=1024,
          pid=0, resource=7)  # fmt: skip
    # the server accepts a connection
    s.add("accept4", "<", SSHD, fd=4,
          tuple=SockTupleV4(IP("10.0.0.9"), 51000, IP("10.0.0.5"), 22), queuepct=0,
          queuelen=0, queuemax=128, flags=0)  # fmt: skip
    s.add("read", "<", SSHD, res=2, data=b"hi", fd=4, size=2)
    # a thread the process list does not know
    s.add("read", "<", 7777, res=0, data=b"", fd=0, size=10)
    # the shell forks a child that is in a vfork-like clone, execs and exits
    s.clone("vfork", SHELL, 300, pid=SHELL, ptid=SSHD, comm="bash", exe="-bash")
    s.clone("vfork", 300, 0, pid=300, ptid=SHELL, comm="bash", exe="-bash")
    s.execve(300, 300, SHELL, filename="ls", exe="ls", args=b"-l\0/tmp\0", comm="ls",
             exepath="/usr/bin/ls")  # fmt: skip
    s.add("procexit", ">", 300, status=0, ret=0, sig=0, core=0, reaper_tid=0)
    s.add("read", "<", SHELL, res=1, data=b"\n", fd=0, size=1)
    # the child exits; its children would be reparented
    s.add("close", "<", 200, res=0, fd=8)
    s.add("procexit", ">", 200, status=0, ret=0, sig=0, core=0, reaper_tid=0)
    s.add("write", "<", SHELL, res=2, data=b"$ ", fd=1, size=2)
    return s.events


def write_scenario(path: Path) -> Path:
    user_list, group_list = users()
    write_capture(path, scenario(), threads=process_list(), machine_info=machine(),
                  users=user_list, groups=group_list)  # fmt: skip
    return path


CHILD_IN_PIDNS, CLONE_NEWPID = 1 << 29, 1 << 6
O_TMPFILE, O_F_CREATED, FD_UPPER_LAYER = 1 << 13, 1 << 14, 1 << 15
EXE_WRITABLE, EXE_UPPER_LAYER, EXE_FROM_MEMFD = 1, 2, 4


def container_scenario() -> list[tuple[Event, int]]:
    """A container runtime starts a process in a new pid namespace (the child's clone exit
    first), the process execs a writable overlay binary, opens files for writing and with
    exec modes, starts threads of which one execs (the others end), sets itself as a child
    subreaper, forks a child that exits after its parent; events on several cpus."""
    s = Seq()
    # runc (pid 400, a child of sshd) creates pid 500, which is pid 1 in its namespace
    s.clone("clone", SSHD, 400, pid=SSHD, ptid=INIT, comm="sshd", exe="sshd", cwd="/", uid=0,
            gid=0)  # fmt: skip
    s.clone("clone", 400, 0, pid=400, ptid=SSHD, comm="sshd", exe="sshd", cwd="/", uid=0, gid=0)
    s.execve(400, 400, SSHD, filename="/usr/bin/runc", exe="runc", args=b"run\0box\0",
             comm="runc", exepath="/usr/bin/runc", uid=0)  # fmt: skip
    s.clone(
        "clone",
        500,
        0,
        pid=500,
        ptid=400,
        comm="runc",
        exe="runc",
        cwd="/",
        uid=0,
        gid=0,
        flags=CLONE_NEWPID | CHILD_IN_PIDNS,
        vtid=1,
        vpid=1,
        pidns_start=5 * 10**9,
    )
    s.clone("clone", 400, 500, pid=400, ptid=SSHD, comm="runc", exe="runc", cwd="/", uid=0,
            gid=0, flags=CLONE_NEWPID)  # fmt: skip
    s.add("execve", "<", 500, res=0, exe="/app/server", args=b"--port\x008080\x00", tid=500,
          pid=500, ptid=400, cwd="", fdlimit=4096, pgft_maj=0, pgft_min=0, vm_size=9000,
          vm_rss=4000, vm_swap=100, comm="server", cgroups=b"cpu=/docker/abc\0",
          env=b"PATH=/bin\0APP_MODE=prod\0", tty=0, vpgid=1, loginuid=0xFFFFFFFF,
          flags=EXE_WRITABLE | EXE_UPPER_LAYER, cap_inheritable=0, cap_permitted=0x3FF,
          cap_effective=0x3FF, exe_ino=99, exe_ino_ctime=T0 - 5 * 10**9,
          exe_ino_mtime=T0 - 6 * 10**9, uid=0, trusted_exepath="/app/server", pgid=500, gid=0,
          filename="/app/server")  # fmt: skip
    s.add("openat", "<", 500, fd=3, dirfd=AT_FDCWD, name="/data/out.bin",
          flags=O_WRONLY | O_CREAT | O_F_CREATED | FD_UPPER_LAYER, mode=0o755, dev=0x800,
          ino=12)  # fmt: skip
    s.add("write", "<", 500, res=5, data=b"bytes", fd=3, size=5)
    s.add("openat", "<", 500, fd=4, dirfd=AT_FDCWD, name="/tmp", flags=O_TMPFILE | O_WRONLY,
          mode=0o700, dev=0x800, ino=13)  # fmt: skip
    s.add("open", "<", 500, fd=5, name="/app/lib.so", flags=O_RDONLY, mode=0, dev=0x800, ino=14)
    # threads: 501 and 502; 502 execs, so 501 ends and 502 becomes the leader's image
    for tid in (501, 502):
        flags = CLONE_THREAD | CLONE_FILES | CLONE_VM | CLONE_FS | CLONE_SIGHAND
        s.clone("clone", 500, tid, pid=500, ptid=400, comm="server", exe="/app/server",
                flags=flags, uid=0, gid=0, cwd="/")  # fmt: skip
    s.add("read", "<", 501, res=2, data=b"ok", fd=5, size=2)
    s.add("prctl", "<", 500, res=0, option=36, arg2_str="", arg2_int=1)
    s.clone("fork", 500, 510, pid=500, ptid=400, comm="server", exe="/app/server", uid=0, gid=0,
            cwd="/")  # fmt: skip
    s.add("read", "<", 510, res=1, data=b"x", fd=5, size=1)
    s.add("procexit", ">", 500, status=0, ret=0, sig=9, core=0, reaper_tid=0)
    s.add("procexit", ">", 501, status=0, ret=0, sig=9, core=0, reaper_tid=0)
    s.add("read", "<", 510, res=1, data=b"y", fd=5, size=1)
    s.add("execve", "<", 502, res=0, exe="/bin/sh", args=b"-c\0true\0", tid=502, pid=500,
          ptid=400, cwd="", fdlimit=4096, pgft_maj=0, pgft_min=0, vm_size=100, vm_rss=50,
          vm_swap=0, comm="sh", cgroups=b"cpu=/docker/abc\0", env=b"PATH=/bin\0", tty=0,
          vpgid=1, loginuid=0xFFFFFFFF, flags=EXE_FROM_MEMFD, cap_inheritable=0,
          cap_permitted=0, cap_effective=0, exe_ino=0, exe_ino_ctime=0, exe_ino_mtime=0, uid=0,
          trusted_exepath="/bin/sh", pgid=500, gid=0, filename="/bin/sh")  # fmt: skip
    s.add("read", "<", 502, res=1, data=b"z", fd=5, size=1)
    s.add("procexit", ">", 502, status=0, ret=0, sig=0, core=0, reaper_tid=0)
    s.add("read", "<", 510, res=1, data=b"w", fd=5, size=1)
    s.add("procexit", ">", 510, status=0, ret=0, sig=0, core=0, reaper_tid=0)
    s.add("write", "<", 400, res=1, data=b"!", fd=1, size=1)
    return [(ev, i % 3) for i, ev in enumerate(s.events)]


def write_container_scenario(path: Path) -> Path:
    user_list, group_list = users()
    with CaptureWriter(path, threads=process_list(), machine_info=machine(), users=user_list,
                       groups=group_list) as writer:  # fmt: skip
        for event, cpu in container_scenario():
            writer.write(event, cpu=cpu)
    return path


#: Event types a mutant may take: not the plugin and async events (checked, fatal when bad);
#: of the current layouts only when its values are to be parsed to the end (libscap converts
#: older ones, with empty parameters libsinsp then stops at).
_RETYPES = [row[0] for row in EVENT_TABLE if row[0] not in (322, 402)]
_CURRENT = [t for t in _RETYPES if "EF_OLD_VERSION" not in EVENT_TABLE[t][5]]


#: The size libsinsp reads a parameter of a fixed-size type with (as<T>()).
_SIZES = {
    **dict.fromkeys(["PT_INT8", "PT_UINT8", "PT_FLAGS8", "PT_ENUMFLAGS8", "PT_SIGTYPE",
                     "PT_L4PROTO", "PT_SOCKFAMILY"], 1),
    **dict.fromkeys(["PT_INT16", "PT_UINT16", "PT_FLAGS16", "PT_ENUMFLAGS16", "PT_SYSCALLID",
                     "PT_PORT"], 2),
    **dict.fromkeys(["PT_INT32", "PT_UINT32", "PT_FLAGS32", "PT_ENUMFLAGS32", "PT_UID", "PT_GID",
                     "PT_MODE", "PT_BOOL", "PT_SIGSET", "PT_IPV4ADDR", "PT_FD32", "PT_PID32"], 4),
    **dict.fromkeys(["PT_INT64", "PT_UINT64", "PT_ERRNO", "PT_FD", "PT_PID", "PT_RELTIME",
                     "PT_ABSTIME", "PT_DOUBLE"], 8),
}  # fmt: skip
_STRINGS = {"PT_CHARBUF", "PT_FSPATH", "PT_FSRELPATH"}


def _well_formed(ptype: str, old: bytes | None, rng: random.Random) -> bytes:
    """A random value of the right length for its type (libsinsp parses it): small numbers
    (fds, tids and ids the scenarios use, or any), NUL-terminated strings and paths, socket
    addresses and tuples of each family, lists."""
    if old is not None and rng.random() < 0.4:
        return old
    size = _SIZES.get(ptype)
    if size:
        value = rng.choice([0, 1, 3, 5, 8, 90, 200, 201, 500, 1000, -1, -100,
                            rng.getrandbits(8 * size)])  # fmt: skip
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if ptype in _STRINGS:
        text = rng.choice([b"", b"/etc/passwd", b"rel/x", b"/", b"..", b"sh", rng.randbytes(12)])
        return text.replace(b"\0", b"") + b"\0" if rng.random() < 0.9 or not text else b""
    if ptype in ("PT_SOCKADDR", "PT_SOCKTUPLE"):
        family = rng.choice([1, 2, 10, 0, 77])
        sizes = {1: (1 + 108, 1 + 16 + 20), 2: (7, 13), 10: (19, 37)}
        base = sizes.get(family, (rng.randrange(1, 9), rng.randrange(1, 40)))
        body = rng.randbytes(base[0 if ptype == "PT_SOCKADDR" else 1] - 1)
        if family == 1:
            body = body[:-1] + b"\0"
        return bytes([family]) + body
    if ptype == "PT_FDLIST":
        n = rng.randrange(4)
        return struct.pack("<H", n) + b"".join(
            struct.pack("<qH", rng.choice([0, 3, 5, 99]), rng.getrandbits(16)) for _ in range(n)
        )
    if ptype == "PT_CHARBUFARRAY" or rng.random() < 0.5:
        return b"".join(rng.choice([b"a", b"HOME=/x", b"cpu=/c", b""]) + b"\0"
                        for _ in range(rng.randrange(4)))  # fmt: skip
    return rng.randbytes(rng.randrange(24))


def _mutants(
    raw: bytes, rng: random.Random, n: int, converter: Converter, lengths_kept: bool
) -> list[bytes]:
    """``n`` malformed copies of one event. ``lengths_kept``: parameters of the right lengths
    (random values, NUL-terminated strings, addresses of each family) and events of other
    types so built, which libsinsp parses to the end. Else a parameter of random bytes, cut
    or extended, an exit event with fewer or more parameters, every parameter random, or
    another event type with random parameters, where libsinsp stops at the first parameter
    of a wrong length. Only those libscap's converter takes (in file order: exit events
    convert with the thread's stored enter event) are kept."""
    ev = RawEvent.parse(raw)
    params = [bytes(p) for p in ev.params()]
    out = []
    for _ in range(n):
        ps, etype, large = list(params), ev.type, ev.large
        kind = rng.randrange(6)
        if lengths_kept:
            if kind >= 4:
                etype = rng.choice(_CURRENT)
            row = EVENT_TABLE[etype]
            large = bool(row[6])
            ps = [_well_formed(p[2], ps[i] if etype == ev.type and i < len(ps) else None, rng)
                  for i, p in enumerate(row[7])]  # fmt: skip
        elif kind == 0 and ps:
            ps[rng.randrange(len(ps))] = rng.randbytes(rng.choice([0, 1, 2, 3, 4, 7, 8, 9, 16, 40]))
        elif kind == 1 and ps:
            i = rng.randrange(len(ps))
            ps[i] = (ps[i][: rng.randrange(len(ps[i]) + 1)] if rng.random() < 0.5
                     else ps[i] + rng.randbytes(rng.randrange(1, 9)))  # fmt: skip
        elif kind == 2 and ev.type % 2:
            ps = (ps[: rng.randrange(len(ps) + 1)] if rng.random() < 0.6
                  else ps + [rng.randbytes(rng.randrange(9))])  # fmt: skip
        elif kind == 3:
            ps = [rng.randbytes(rng.randrange(12)) for _ in ps]
        else:
            etype = rng.choice(_RETYPES)
            row = EVENT_TABLE[etype]
            ps = [rng.randbytes(rng.choice([0, 1, 2, 4, 8, 17, 40])) for _ in row[7]]
            large = bool(row[6])
        lengths = struct.pack(f"<{len(ps)}{'I' if large else 'H'}", *map(len, ps))
        body = lengths + b"".join(ps)
        event = struct.pack("<QQIHI", ev.ts, ev.tid, 26 + len(body), etype, len(ps)) + body
        trial = copy.deepcopy(converter)  # a refused event changes nothing
        try:
            trial.convert(event)
        except ConversionError:
            continue
        converter.__dict__.update(trial.__dict__)
        out.append(event)
    return out


def write_fuzzed(path: Path, seed: int, per_event: int, lengths_kept: bool = True) -> int:
    """The shell scenario (even seeds) or the container one (odd seeds) with ``per_event``
    malformed copies after each event (see _mutants); returns the event count."""
    rng = random.Random(seed)
    plain = scenario() if seed % 2 == 0 else [e for e, _ in container_scenario()]
    converter = Converter()
    events: list[bytes] = []
    for event in plain:
        raw = event.encode()
        converter.convert(raw)
        events.append(raw)
        events.extend(_mutants(raw, rng, per_event, converter, lengths_kept))
    user_list, group_list = users()
    return write_capture(path, events, threads=process_list(), machine_info=machine(),
                         users=user_list, groups=group_list)  # fmt: skip
