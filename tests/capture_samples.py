"""Sample captures for the capture tests: threads with fds, machine facts, events old and new."""

from __future__ import annotations

import ipaddress
from typing import Any

from falco_plugin.event import (
    DynParam,
    Event,
    SockAddrUnix,
    SockAddrV4,
    SockTupleV4,
    SockTupleV6,
    async_event,
    event_class,
    plugin_event,
)
from falco_plugin.event.capture import (
    STATE_ONLY,
    CaptureWriter,
    FdInfo,
    FdType,
    Group,
    Interface,
    MachineInfo,
    ThreadInfo,
    User,
)

T0 = 1_700_000_000_000_000_000
CLONE_FILES, CLONE_THREAD = 1 << 0, 1 << 13  # a thread sharing its process's fds
IP = ipaddress.ip_address


def machine() -> MachineInfo:
    return MachineInfo(
        num_cpus=8,
        memory_size_bytes=16 << 30,
        max_pid=4194304,
        hostname="capture-host",
        boot_ts_epoch=T0 - 86_400 * 10**9,
        flags=0,
    )


def interfaces() -> list[Interface]:
    return [
        Interface("lo", IP("127.0.0.1"), IP("255.0.0.0"), IP("127.255.255.255")),
        Interface("eth0", IP("10.0.0.5"), IP("255.255.255.0"), IP("10.0.0.255"), 10_000),
        Interface("eth0", IP("fe80::1"), IP("ffff:ffff:ffff:ffff::"), IP("::"), 10_000),
    ]


def users() -> tuple[list[User], list[Group]]:
    return (
        [User(0, 0, "root", "/root", "/bin/bash"), User(1000, 1000, "alice", "/home/a", "/bin/sh")],
        [Group(0, "root"), Group(1000, "alice")],
    )


def fds() -> list[FdInfo]:
    """One fd of every kind the fd list stores."""
    return [
        FdInfo(0, FdType.FILE_V2, "/dev/pts/0", ino=3, open_flags=2, dev=0x19),
        FdInfo(1, FdType.FILE, "/var/log/old.log", ino=4),
        FdInfo(2, FdType.DIRECTORY, "/home/a", ino=5),
        FdInfo(3, FdType.IPV4_SOCK, sip=IP("10.0.0.5"), sport=40000, dip=IP("93.184.216.34"),
               dport=443, l4proto=2, ino=6),
        FdInfo(4, FdType.IPV6_SOCK, sip=IP("2001:db8::1"), sport=5353, dip=IP("2001:db8::2"),
               dport=53, l4proto=3, ino=7),
        FdInfo(5, FdType.IPV4_SERVSOCK, sip=IP("0.0.0.0"), sport=8080, l4proto=2, ino=8),
        FdInfo(6, FdType.IPV6_SERVSOCK, sip=IP("::"), sport=8443, l4proto=2, ino=9),
        FdInfo(7, FdType.UNIX_SOCK, "/run/app.sock", source=0xFFFF0001, destination=0xFFFF0002),
        FdInfo(8, FdType.FIFO, "pipe:[1234]", ino=1234),
        FdInfo(9, FdType.EVENT, "", ino=10),
        FdInfo(10, FdType.IPV6_SOCK, sip=IP("::ffff:10.0.0.5"), sport=41000,
               dip=IP("::ffff:10.0.0.9"), dport=22, l4proto=2),
        FdInfo(11, FdType.MEMFD, "memfd:x", ino=11),
        FdInfo(12, FdType.IPV4_SOCK, sip=IP("10.0.0.5"), sport=8080, dip=IP("10.0.0.7"),
               dport=51000, l4proto=2),
    ]  # fmt: skip


def threads() -> list[ThreadInfo]:
    """A parent shell, a process with fds and a second thread, in a container-like cgroup."""
    shell = ThreadInfo(
        tid=90, pid=90, ptid=1, sid=90, vpgid=90, pgid=90, comm="bash", exe="-bash",
        exepath="/usr/bin/bash", cwd="/home/a", fdlimit=1024, uid=1000, gid=1000,
        vtid=90, vpid=90, env=("HOME=/home/a", "TERM=xterm"), loginuid=1000, tty=34816,
        root="/", cgroups=("cpu=/user.slice", "memory=/user.slice"),
    )  # fmt: skip
    app = ThreadInfo(
        tid=100, pid=100, ptid=90, sid=90, vpgid=100, pgid=100, comm="app", exe="./app",
        exepath="/opt/app/bin/app", args=("--serve", "--port=8080"), env=("HOME=/home/a",),
        cwd="/opt/app", fdlimit=65536, flags=0, uid=1000, gid=1000, vmsize_kb=2048,
        vmrss_kb=1024, vmswap_kb=0, pfmajor=1, pfminor=2, vtid=1, vpid=1,
        cgroups=("cpuset=/docker/abc", "perf_event=/docker/abc", "blkio=/docker/abc"),
        root="/var/lib/docker/overlay/merged", pidns_init_start_ts=T0 - 10**9, tty=0,
        loginuid=1000, exe_writable=True, cap_inheritable=1, cap_permitted=0x3FF,
        cap_effective=0x3FF, exe_upper_layer=True, exe_ino=777, exe_ino_ctime=T0 - 5,
        exe_ino_mtime=T0 - 6, exe_from_memfd=False, exe_lower_layer=False, fds=fds(),
    )  # fmt: skip
    worker = ThreadInfo(
        tid=101, pid=100, ptid=90, sid=90, vpgid=100, pgid=100, comm="app-worker",
        exe="./app", exepath="/opt/app/bin/app", args=("--serve", "--port=8080"),
        cwd="/opt/app", fdlimit=65536, uid=1000, gid=1000, vtid=2, vpid=1, loginuid=1000,
        flags=CLONE_THREAD | CLONE_FILES,
    )  # fmt: skip
    return [shell, app, worker]


def _ev(event: str, direction: str, ts: int, tid: int, **params: object) -> Event:
    return Event(event_class(event, direction)(**params), ts=T0 + ts, tid=tid)


def current_events() -> list[tuple[Event, int, int]]:
    """Events of current types: (event, cpu, dump flags)."""
    tuple4 = SockTupleV4(IP("10.0.0.5"), 40000, IP("93.184.216.34"), 443)
    tuple6 = SockTupleV6(IP("2001:db8::1"), 5353, IP("2001:db8::2"), 53)
    events = [
        _ev("open", "<", 1, 100, fd=12, name="/etc/hosts", flags=1, mode=0, dev=0x803, ino=99),
        _ev("read", "<", 2, 100, res=5, data=b"hello", fd=12, size=5),
        _ev("close", "<", 3, 101, res=0, fd=12),
        _ev("write", "<", 4, 101, res=3, data=b"\x00\x01\xff", fd=3, size=3),
        _ev("sendto", "<", 5, 100, res=4, data=b"ping", fd=4, size=4, tuple=tuple6),
        _ev(
            "connect",
            "<",
            6,
            100,
            res=0,
            tuple=tuple4,
            fd=3,
            addr=SockAddrV4(IP("93.184.216.34"), 443),
        ),  # fmt: skip
        _ev("bind", "<", 7, 100, res=0, addr=SockAddrUnix("/run/app.sock"), fd=7),
        _ev("setuid", "<", 8, 90, res=0, uid=0),
        _ev("chdir", "<", 9, 90, res=-2, path="/nope"),
        _ev(
            "openat", "<", 10, 101, fd=-2, dirfd=-100, name="missing", flags=0, mode=0, dev=0, ino=0
        ),  # fmt: skip
        _ev(
            "ptrace",
            "<",
            11,
            90,
            res=0,
            addr=DynParam(0, 0),
            data=DynParam(0, 0),
            request=16,
            pid=100,
        ),  # fmt: skip
        _ev("dup2", "<", 12, 100, res=20, oldfd=3, newfd=20),
    ]
    out = [(ev, i % 4, 0) for i, ev in enumerate(events)]
    out.append((_ev("close", "<", 13, 100, res=0, fd=20), 1, STATE_ONLY))
    return out


def plugin_events() -> list[Event]:
    """Events with large payloads (the large event blocks)."""
    return [
        plugin_event(b"x" * 70_000, plugin_id=999, ts=T0 + 20),
        async_event("sample", b'{"k": 1}', plugin_id=999, ts=T0 + 21, tid=100),
    ]


def old_events() -> list[Event]:
    """Events in layouts of older drivers, which libscap converts when it reads them."""
    c = event_class
    return [
        # an exit event that takes its fd from the enter event
        Event(c("PPME_SYSCALL_CLOSE_E")(fd=7), ts=T0 + 1, tid=100),
        Event(c("PPME_SYSCALL_CLOSE_X")(res=0), ts=T0 + 2, tid=100, nparams=1),
        # an exit event that gains empty dev and ino; its enter event passes
        Event(c("PPME_SYSCALL_OPEN_E")(name="/etc/hosts", flags=1, mode=0), ts=T0 + 3, tid=100),
        Event(
            c("PPME_SYSCALL_OPEN_X")(fd=3, name="/etc/hosts", flags=1, mode=0),
            ts=T0 + 4,
            tid=100,
            nparams=4,
        ),
        # an old exit type that becomes the current one with the enter event's paths
        Event(c("PPME_SYSCALL_LINK_E")(oldpath="/a", newpath="/b"), ts=T0 + 5, tid=101),
        Event(c("PPME_SYSCALL_LINK_X")(res=0), ts=T0 + 6, tid=101),
        # a 64-bit enter parameter cut to the 32 bits of the new type
        Event(c("PPME_SYSCALL_BPF_E")(cmd=0x1_0000_0005), ts=T0 + 7, tid=100),
        Event(c("PPME_SYSCALL_BPF_X")(res_or_fd=DynParam(0, 9)), ts=T0 + 8, tid=100),
        Event(c("PPME_SYSCALL_READ_E")(fd=3, size=100), ts=T0 + 9, tid=100),
        Event(c("PPME_SYSCALL_READ_X")(res=5, data=b"hello"), ts=T0 + 10, tid=100, nparams=2),
        # defaults where the enter event is missing (uid/gid default to -1, others to 0/empty)
        Event(c("PPME_SYSCALL_SETGID_X")(res=0), ts=T0 + 11, tid=90, nparams=1),
        Event(c("PPME_SYSCALL_KILL_X")(res=0), ts=T0 + 12, tid=90, nparams=1),
        Event(
            c("PPME_SOCKET_ACCEPT4_X")(
                fd=5, tuple=SockTupleV4(IP("1.2.3.4"), 1, IP("5.6.7.8"), 2), queuepct=3
            ),
            ts=T0 + 13,
            tid=100,
        ),  # fmt: skip
        # an execve of the oldest layout, converted step by step to the current type
        Event(c("PPME_SYSCALL_EXECVE_8_E")(), ts=T0 + 14, tid=90),
        Event(
            c("PPME_SYSCALL_EXECVE_8_X")(
                res=0,
                exe="/bin/ls",
                args=b"-l\x00",
                tid=90,
                pid=90,
                ptid=1,
                cwd="/home/a",
                fdlimit=1024,
            ),
            ts=T0 + 15,
            tid=90,
        ),  # fmt: skip
        # an old container event, rewritten as the container JSON of today
        Event(
            c("PPME_CONTAINER_E")(id="abc123", type=0, name="web", image="nginx:1"),
            ts=T0 + 16,
            tid=-1,
        ),
        # dropped by libscap: an unused type, an old enter type it does not manage
        Event(c("PPME_PROCEXIT_1_X")(), ts=T0 + 17, tid=100),
        Event(c("PPME_SOCKET_GETSOCKNAME_E")(), ts=T0 + 18, tid=100),
        Event(c("PPME_SYSCALL_UMOUNT_X")(res=0, name="/mnt"), ts=T0 + 19, tid=90),
    ]


def write_rich(target: Any, **options: Any) -> list[bytes]:
    """Write every sample (metadata, current and large events) to ``target``; returns the
    bytes of the events written, in order."""
    user_list, group_list = users()
    written = []
    with CaptureWriter(
        target,
        machine_info=machine(),
        threads=threads(),
        interfaces=interfaces(),
        users=user_list,
        groups=group_list,
        **options,
    ) as writer:
        for event, cpu, flags in current_events():
            writer.write(event, cpu=cpu, flags=flags)
            written.append(event.encode())
        for event in plugin_events():
            writer.write(event)
            written.append(event.encode())
    return written
