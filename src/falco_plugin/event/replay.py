"""What a host needs to replay a capture the way libsinsp does: threads, events, what to show.

:func:`replay_input` turns a capture into one :class:`ReplaySection` per section (concatenated
captures have several; libsinsp resets its state at each). A section has:

- ``threads``: the process list as a threads table fixture, a JSON-able list of objects with
  libsinsp's threads table field names (the ``--threads-fixture`` shape of the SDK host)::

      {"tid": 42, "pid": 42, "ptid": 1, "reaper_tid": -1, "sid": 42, "vtid": 42, "vpid": 42,
       "vpgid": 42, "pgid": 42, "comm": "cat", "exe": "cat", "exe_path": "/usr/bin/cat",
       "exe_writable": false, "exe_upper_layer": false, "exe_lower_layer": false,
       "exe_from_memfd": false, "args": ["/etc/passwd"], "env": ["HOME=/root"],
       "cgroups": [{"first": "cpu", "second": "/user.slice"}], "flags": 524288,
       "fd_limit": 1024, "uid": 0, "gid": 0, "loginuid": 1000, "exe_ino": 0,
       "exe_ino_ctime": 0, "exe_ino_mtime": 0, "pidns_init_start_ts": 0, "root": "/",
       "tty": 0, "cwd": "/root/",
       "file_descriptors": [{"fd": 3, "type": 16, "name": "/etc/passwd", "open_flags": 1,
                             "flags": 1, "dev": 2051, "ino": 42}, ...]}

  with the values libsinsp derives from the file's entry: ``reaper_tid`` -1, ``flags`` with
  ``PPM_CL_ACTIVE`` and ``PPM_CL_NAME_CHANGED`` (which every new threadinfo starts with);
  ``env`` and ``cwd`` (with a final ``/``) only on main threads
  (tid == pid: libsinsp keeps them there); ``cgroups`` split at ``=`` with libsinsp's subsystem
  renames; fd ``flags`` ``FLAGS_FROM_PROC`` (+ role and connected bits of sockets), socket names
  like ``10.0.0.1:1234->10.0.0.2:80``, IPv4-mapped IPv6 sockets as IPv4 ones, IPv4 connections
  from a port something listens on turned around (server side), socket addresses as
  libsinsp's ``socket_*`` fields (IPv4 addresses as the u32 the file stores). A thread whose
  ``flags`` have ``PPM_CL_CLONE_FILES`` (1) shares its main thread's fds: libsinsp looks its
  fds up there, not in its own (empty) list;
- ``events``: every event libscap gives libsinsp (old layouts converted), back to back in the
  26-byte-header format; ``count`` of them; ``cpus`` and ``flags`` per event;
- ``shown``: per event, whether libsinsp hands it to its user (filters, outputs, plugin
  extraction) after parsing it. libsinsp parses every event but hides three kinds: the
  initial-state events (users, groups, containers, async events) that lead a section, which it
  consumes when the capture opens; the enter events it keeps only for their exit event
  (``open``, ``openat``, ``openat2``, ``creat``, ``connect``, ``execve``, ``execveat``); and
  events dumped with ``SCAP_DF_STATE_ONLY``.

The fds of threads missing from the process list are dropped, as libsinsp drops them.
What depends on the whole table (a parent missing from it makes libsinsp set ``ptid`` to 0)
is left to the host that loads the fixture. A section also carries what the process list
says beyond the table's fields (``extras``: capabilities, memory counters), the machine's
boot time and the section's users and groups.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from typing import Any

from ._generated import EVENT_TABLE
from .capture import STATE_ONLY, CaptureReader, Source
from .capture_blocks import FdInfo, FdType, Group, ThreadInfo, User

__all__ = ["ReplayInput", "ReplaySection", "fd_fixture", "replay_input", "thread_fixture"]

_CODES = {row[1]: row[0] for row in EVENT_TABLE}
#: Enter events libsinsp parses for their exit event and then hides (sinsp_evt_filter).
PARSE_ONLY_TYPES = frozenset(
    _CODES[i]
    for i in (
        "PPME_SYSCALL_OPEN_E",
        "PPME_SYSCALL_OPENAT_2_E",
        "PPME_SYSCALL_OPENAT2_E",
        "PPME_SYSCALL_CREAT_E",
        "PPME_SOCKET_CONNECT_E",
        "PPME_SYSCALL_EXECVE_19_E",
        "PPME_SYSCALL_EXECVEAT_E",
    )
)
#: Events libsinsp consumes at open while they lead a section (is_initialstate_event).
INITIAL_STATE_TYPES = frozenset(
    _CODES[i]
    for i in (
        "PPME_CONTAINER_JSON_2_E",
        "PPME_USER_ADDED_E",
        "PPME_USER_DELETED_E",
        "PPME_GROUP_ADDED_E",
        "PPME_GROUP_DELETED_E",
        "PPME_ASYNCEVENT_E",
    )
)
PPM_CL_ACTIVE = 1 << 19
PPM_CL_NAME_CHANGED = 1 << 17
FD_FROM_PROC = 1 << 0
FD_ROLE_CLIENT = 1 << 2
FD_ROLE_SERVER = 1 << 3
FD_SOCKET_CONNECTED = 1 << 13
L4_TCP = 2
_CGROUP_RENAMES = {"perf": "perf_event", "mem": "memory", "io": "blkio"}


@dataclass
class ReplaySection:
    """One section of a capture, ready for a replay (see the module docs for each field)."""

    threads: list[dict[str, Any]]
    extras: list[dict[str, int]] = field(default_factory=list)
    boot_ts: int = 0
    users: list[User] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    events: bytes = b""
    count: int = 0
    cpus: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    shown: list[bool] = field(default_factory=list)

    def offsets(self) -> Iterator[tuple[int, int]]:
        """(offset, length) of each event in ``events``."""
        pos = 0
        data = self.events
        for _ in range(self.count):
            length = int.from_bytes(data[pos + 16 : pos + 20], "little")
            yield pos, length
            pos += length


@dataclass
class ReplayInput:
    """A capture as a replay needs it: its sections, in order."""

    sections: list[ReplaySection]
    stats: dict[str, int]

    @property
    def threads(self) -> list[dict[str, Any]]:
        """The threads fixture of the first section."""
        return self.sections[0].threads


def replay_input(source: Source) -> ReplayInput:
    """Read a capture (path, bytes or binary file) into what a host replay needs."""
    sections: list[ReplaySection] = []
    chunks: list[list[bytes]] = []
    with CaptureReader(source) as reader:

        def catch_up(count: int) -> None:
            while len(sections) < count:
                meta = reader.sections[len(sections)]
                sections.append(
                    ReplaySection(
                        threads_fixture(meta.threads),
                        [thread_extras(info) for info in meta.threads],
                        meta.machine_info.boot_ts_epoch if meta.machine_info else 0,
                        list(meta.users),
                        list(meta.groups),
                    )
                )
                chunks.append([])

        leading = True
        for ev in reader:
            if ev.section >= len(sections):
                catch_up(ev.section + 1)
                leading = True
            current = sections[-1]
            etype = ev.type
            leading = leading and etype in INITIAL_STATE_TYPES
            shown = not (leading or etype in PARSE_ONLY_TYPES or ev.flags & STATE_ONLY)
            chunks[-1].append(ev.tobytes())
            current.count += 1
            current.cpus.append(ev.cpu)
            current.flags.append(ev.flags)
            current.shown.append(shown)
        catch_up(len(reader.sections))
        for section, parts in zip(sections, chunks, strict=True):
            section.events = b"".join(parts)
        return ReplayInput(sections, dict(reader.stats))


def threads_fixture(threads: list[ThreadInfo]) -> list[dict[str, Any]]:
    """The fixture entries of a process list (the last entry of a repeated tid wins)."""
    by_tid = {info.tid: info for info in threads}
    ports = server_ports(by_tid.values())
    return [thread_fixture(info, ports) for info in by_tid.values()]


def thread_extras(info: ThreadInfo) -> dict[str, int]:
    """What libsinsp keeps of a process list entry beyond its threads table fields."""
    return {
        "tid": info.tid,
        "cap_permitted": info.cap_permitted,
        "cap_effective": info.cap_effective,
        "cap_inheritable": info.cap_inheritable,
        "vmsize_kb": info.vmsize_kb,
        "vmrss_kb": info.vmrss_kb,
        "vmswap_kb": info.vmswap_kb,
        "pfmajor": info.pfmajor,
        "pfminor": info.pfminor,
    }


def server_ports(threads: Iterable[ThreadInfo]) -> frozenset[int]:
    """The ports of listening sockets: libsinsp turns connections to them around."""
    return frozenset(
        fd.sport
        for info in threads
        for fd in info.fds
        if fd.type in (FdType.IPV4_SERVSOCK, FdType.IPV6_SERVSOCK)
    )


def thread_fixture(info: ThreadInfo, ports: frozenset[int] = frozenset()) -> dict[str, Any]:
    """One process list entry as libsinsp's threads table holds it (``ports``: see
    :func:`server_ports`)."""
    main = info.tid == info.pid
    return {
        "tid": info.tid,
        "pid": info.pid,
        "ptid": info.ptid,
        "reaper_tid": -1,
        "sid": info.sid,
        "vtid": info.vtid,
        "vpid": info.vpid,
        "vpgid": info.vpgid,
        "pgid": info.pgid,
        "comm": info.comm,
        "exe": info.exe,
        "exe_path": info.exepath,
        "exe_writable": info.exe_writable,
        "exe_upper_layer": info.exe_upper_layer,
        "exe_lower_layer": info.exe_lower_layer,
        "exe_from_memfd": info.exe_from_memfd,
        "args": list(info.args),
        "env": list(info.env) if main else [],
        "cgroups": _cgroups(info.cgroups),
        "flags": info.flags | PPM_CL_ACTIVE | PPM_CL_NAME_CHANGED,
        "fd_limit": info.fdlimit,
        "uid": info.uid,
        "gid": info.gid,
        "loginuid": info.loginuid,
        "exe_ino": info.exe_ino,
        "exe_ino_ctime": info.exe_ino_ctime,
        "exe_ino_mtime": info.exe_ino_mtime,
        "pidns_init_start_ts": info.pidns_init_start_ts,
        "root": info.root,
        "tty": info.tty,
        "cwd": _cwd(info.cwd) if main else "",
        "file_descriptors": [fd_fixture(fd, ports) for fd in info.fds],
    }


def _cgroups(entries: tuple[str, ...]) -> list[dict[str, str]]:
    out = []
    for entry in entries:
        subsys, sep, path = entry.partition("=")
        if not sep:
            return []  # libsinsp gives up on the whole list
        subsys = subsys.replace("_cgroup", "", 1)
        out.append({"first": _CGROUP_RENAMES.get(subsys, subsys), "second": path})
    return out


def _cwd(cwd: str) -> str:
    """The working directory as libsinsp stores it: normalized, with a final ``/``."""
    if cwd.startswith("/"):
        cwd = "/" + posixpath.normpath(cwd).lstrip("/")
    return cwd if cwd.endswith("/") else cwd + "/"


def _u32(address: Any) -> int:
    return int.from_bytes(address.packed, "little") if address is not None else 0


def _halves(name: str, address: Any) -> dict[str, int]:
    """An IPv6 address as libsinsp's ``NAME_low``/``NAME_high`` u64 fields."""
    packed = address.packed if address is not None else bytes(16)
    return {
        f"{name}_low": int.from_bytes(packed[:8], "little"),
        f"{name}_high": int.from_bytes(packed[8:], "little"),
    }


def _mapped_v4(address: Any) -> Any:
    """The IPv4 address inside an IPv4-mapped (or all-zero) IPv6 address, else None."""
    if address is None:
        return None
    packed = address.packed
    if packed[:10] != b"\0" * 10:
        return None
    if packed[10:12] == b"\xff\xff" or packed[10:] == b"\0" * 6:
        return IPv4Address(packed[12:])
    return None


def fd_fixture(fd: FdInfo, ports: frozenset[int] = frozenset()) -> dict[str, Any]:
    """One fd list entry as libsinsp's fd table holds it.

    IPv4 connections whose source port is one of ``ports`` (where something listens) are
    turned around, as libsinsp does after reading the fd lists: they are the server side.
    """
    kind = fd.type
    out: dict[str, Any] = {"fd": fd.fd, "type": kind, "ino": fd.ino, "flags": FD_FROM_PROC}
    if kind == FdType.IPV6_SOCK:
        sip, dip = _mapped_v4(fd.sip), _mapped_v4(fd.dip)
        if sip is not None and dip is not None:
            fd = replace(fd, type=FdType.IPV4_SOCK, sip=sip, dip=dip)
            kind = out["type"] = FdType.IPV4_SOCK
    if kind == FdType.IPV4_SOCK:
        if fd.sport in ports:
            fd = replace(fd, sip=fd.dip, sport=fd.dport, dip=fd.sip, dport=fd.sport)
            out["flags"] |= FD_ROLE_SERVER
        else:
            out["flags"] |= FD_ROLE_CLIENT
    if kind in (FdType.IPV4_SOCK, FdType.IPV6_SOCK):
        v = "4" if kind == FdType.IPV4_SOCK else "6"
        src, dst = f"{fd.sip}:{fd.sport}", f"{fd.dip}:{fd.dport}"
        out["name"] = f"{src}->{dst}"
        if fd.l4proto == L4_TCP:
            out["flags"] |= FD_SOCKET_CONNECTED
        if v == "4":
            out["socket_ipv4_src_ip"] = _u32(fd.sip)
            out["socket_ipv4_dest_dip"] = _u32(fd.dip)
        else:
            out.update(_halves("socket_ipv6_src_ip", fd.sip))
            out.update(_halves("socket_ipv6_dest_ip", fd.dip))
        out[f"socket_ipv{v}_src_port"] = fd.sport
        out[f"socket_ipv{v}_dst_port"] = fd.dport
        out[f"socket_ipv{v}_l4_proto"] = fd.l4proto
    elif kind in (FdType.IPV4_SERVSOCK, FdType.IPV6_SERVSOCK):
        v = "4" if kind == FdType.IPV4_SERVSOCK else "6"
        out["name"] = f"{fd.sip}:{fd.sport}"
        if v == "4":
            out["socket_ipv4_server_ip"] = _u32(fd.sip)
        else:
            out.update(_halves("socket_ipv6_server_ip", fd.sip))
        out[f"socket_ipv{v}_server_port"] = fd.sport
        out[f"socket_ipv{v}_server_l4_proto"] = fd.l4proto
    elif kind == FdType.UNIX_SOCK:
        out["name"] = fd.name
        out["flags"] |= FD_ROLE_SERVER if fd.name else FD_ROLE_CLIENT
        out["socket_unix_src"] = fd.source
        out["socket_unix_dest"] = fd.destination
    else:
        out["name"] = fd.name
        if kind == FdType.FILE_V2:
            out["open_flags"] = fd.open_flags
            out["dev"] = fd.dev
    return out
