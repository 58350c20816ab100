"""The metadata blocks of a scap capture file: what they hold and how each version is laid out.

A capture (libscap's "savefile") is a pcapng-like sequence of blocks, each
``type u32, total_length u32, body, padding to 4 bytes, total_length u32`` (little-endian).
This module has the records the metadata blocks carry (:class:`MachineInfo`,
:class:`ThreadInfo`, :class:`FdInfo`, :class:`Interface`, :class:`User`, :class:`Group`) and
the codecs of their bodies in every version libscap reads:

- machine info (``0x201``): one fixed 180-byte record;
- process list (``0x202`` v1 ... ``0x215`` v9): thread entries; v1-v8 add fields in the
  middle, v9 prefixes each entry with its length and appends fields at the end, so that
  readers skip what they do not know;
- fd list (``0x203`` v1, ``0x218`` v2): a tid, then fd entries (v2: length-prefixed);
- interface list (``0x205`` v1, ``0x219`` v2) and user list (``0x206`` v1, ``0x220`` v2).

Limits are libscap's: a path-like string over 1024 bytes, args/env/cgroups over 4096 bytes or
a user or group string of 256 bytes or more is refused (libscap refuses to read them).
Parsing works on a block body in memory and raises :class:`CaptureFormatError` on anything
that does not fit; nothing is allocated from a length before the bytes are known to be there.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from .raw import EventFormatError

__all__ = [
    "CaptureFormatError",
    "FdInfo",
    "FdType",
    "Group",
    "Interface",
    "MachineInfo",
    "ThreadInfo",
    "User",
]

MAX_PATH = 1024  # SCAP_MAX_PATH_SIZE
MAX_ARGS = 4096  # SCAP_MAX_ARGS_SIZE, SCAP_MAX_ENV_SIZE, SCAP_MAX_CGROUPS_SIZE
MAX_CREDENTIAL = 256  # MAX_CREDENTIALS_STR_LEN (a name must be shorter)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CaptureFormatError(EventFormatError):
    """A capture file that libscap's reader would not accept (or that this reader cannot)."""


# --- reading and writing helpers -------------------------------------------------------------


class Cursor:
    """Reads little-endian values from a block body, refusing to run past its end."""

    __slots__ = ("buf", "pos", "end", "what")

    def __init__(self, buf: bytes, what: str, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end
        self.what = what

    @property
    def left(self) -> int:
        return self.end - self.pos

    def take(self, size: int) -> bytes:
        if size > self.end - self.pos:
            raise CaptureFormatError(
                f"{self.what}: {size} bytes needed at offset {self.pos}, "
                f"{max(self.end - self.pos, 0)} left: is the file truncated?"
            )
        start = self.pos
        self.pos += size
        return self.buf[start : self.pos]

    def unpack(self, st: struct.Struct) -> tuple:
        return st.unpack(self.take(st.size))

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.take(8))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self.take(8))[0])

    def blob(self, limit: int, name: str) -> bytes:
        """A u16-length-prefixed byte string of at most ``limit`` bytes."""
        size = self.u16()
        if size > limit:
            raise CaptureFormatError(f"{self.what}: {name} of {size} bytes (at most {limit})")
        return self.take(size)

    def text(self, limit: int, name: str) -> str:
        return _text(self.blob(limit, name))

    def end_entry(self, start: int, length: int, what: str) -> None:
        """Move to the end of an entry of ``length`` bytes that began at ``start`` (skipping
        fields of newer versions); an entry whose known fields overflow it is an error."""
        used = self.pos - start
        if used > length:
            raise CaptureFormatError(f"{self.what}: {what} of {length} bytes holds {used}")
        self.take(length - used)


_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


def _text(raw: bytes) -> str:
    """File strings are bytes; like the event model, keep undecodable bytes as surrogates."""
    return raw.decode("utf-8", "surrogateescape")


def _raw(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _blob(data: bytes, limit: int, name: str) -> bytes:
    if len(data) > limit:
        raise ValueError(f"{name} of {len(data)} bytes: libscap reads at most {limit}")
    return _U16.pack(len(data)) + data


def _str(value: str, limit: int, name: str) -> bytes:
    return _blob(_raw(value), limit, name)


def split_nul(raw: bytes) -> tuple[str, ...]:
    """``a\\0b\\0`` -> ``("a", "b")``, as libsinsp splits args and env (one final NUL dropped)."""
    if not raw:
        return ()
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return tuple(_text(part) for part in raw.split(b"\0"))


def join_nul(items: Sequence[str]) -> bytes:
    """The inverse of :func:`split_nul`: NUL after every item."""
    return b"".join(_raw(item) + b"\0" for item in items)


def padding(size: int) -> bytes:
    """Zero bytes that bring ``size`` to a multiple of 4."""
    return b"\0" * (-size % 4)


def block(block_type: int, body: bytes) -> bytes:
    """A whole block: header, body, padding, trailer."""
    total = 12 + len(body) + (-len(body) % 4)
    if total > 0xFFFFFFFF:
        raise ValueError(f"block of {total} bytes does not fit a 32-bit length")
    length = _U32.pack(total)
    return _U32.pack(block_type) + length + body + padding(len(body)) + length


# --- machine info ----------------------------------------------------------------------------

_MACHINE = struct.Struct("<IQQ128sQQQQ")


@dataclass
class MachineInfo:
    """The machine a capture was taken on (``scap_machine_info``)."""

    num_cpus: int = 0
    memory_size_bytes: int = 0
    max_pid: int = 0
    hostname: str = ""
    boot_ts_epoch: int = 0
    flags: int = 0
    reserved3: int = 0
    reserved4: int = 0

    @classmethod
    def decode(cls, body: bytes) -> MachineInfo:
        """Reads a machine info block's body; raises CaptureFormatError when it is too short."""
        if len(body) < _MACHINE.size:
            raise CaptureFormatError(
                f"machine info block of {len(body)} bytes, expected {_MACHINE.size}"
            )
        cpus, mem, max_pid, host, boot, flags, r3, r4 = _MACHINE.unpack_from(body)
        return cls(cpus, mem, max_pid, _text(host.split(b"\0", 1)[0]), boot, flags, r3, r4)

    def encode(self) -> bytes:
        """The block's body as libscap writes it."""
        host = _raw(self.hostname)
        if len(host) >= 128:
            raise ValueError(f"hostname of {len(host)} bytes: at most 127 fit")
        return _MACHINE.pack(
            self.num_cpus,
            self.memory_size_bytes,
            self.max_pid,
            host,
            self.boot_ts_epoch,
            self.flags,
            self.reserved3,
            self.reserved4,
        )


# --- file descriptors ------------------------------------------------------------------------


class FdType(IntEnum):
    """``scap_fd_type``: what a file descriptor of the fd list is."""

    UNKNOWN = 0
    FILE = 1
    DIRECTORY = 2
    IPV4_SOCK = 3
    IPV6_SOCK = 4
    IPV4_SERVSOCK = 5
    IPV6_SERVSOCK = 6
    FIFO = 7
    UNIX_SOCK = 8
    EVENT = 9
    UNSUPPORTED = 10
    SIGNALFD = 11
    EVENTPOLL = 12
    INOTIFY = 13
    TIMERFD = 14
    NETLINK = 15
    FILE_V2 = 16
    BPF = 17
    USERFAULTFD = 18
    IOURING = 19
    MEMFD = 20
    PIDFD = 21


#: Types whose only data is a name.
_NAMED = frozenset(FdType) - {
    FdType.UNKNOWN,
    FdType.IPV4_SOCK,
    FdType.IPV6_SOCK,
    FdType.IPV4_SERVSOCK,
    FdType.IPV6_SERVSOCK,
    FdType.UNIX_SOCK,
    FdType.FILE_V2,
}
_V4_TUPLE = struct.Struct("<4s4sHHB")
_V6_TUPLE = struct.Struct("<16s16sHHB")
_V4_SERVER = struct.Struct("<4sHB")
_V6_SERVER = struct.Struct("<16sHB")
_UNIX = struct.Struct("<QQ")
_FD_HEAD = struct.Struct("<qQB")


@dataclass
class FdInfo:
    """One open file descriptor of a thread (``scap_fdinfo``), as the fd list stores it.

    ``name`` is the path (files, directories, pipes, ...), the unix socket path, or empty.
    Sockets have ``sip``/``sport``/``dip``/``dport`` (connected) or ``sip``/``sport`` (listening,
    ``*_SERVSOCK``) and ``l4proto`` (``scap_l4_proto``: 2 TCP, 3 UDP, ...); unix sockets
    ``source``/``destination`` (kernel pointers). ``open_flags`` and ``dev`` belong to FILE_V2.
    """

    fd: int
    type: int = FdType.FILE_V2
    name: str = ""
    ino: int = 0
    open_flags: int = 0
    dev: int = 0
    sip: IPAddress | None = None
    sport: int = 0
    dip: IPAddress | None = None
    dport: int = 0
    l4proto: int = 0
    source: int = 0
    destination: int = 0

    def encode(self, version: int) -> bytes:
        """The entry's bytes in an fd list block of ``version`` (2: with its length first)."""
        kind = self.type
        head = _FD_HEAD.pack(self.fd, self.ino, kind)
        if kind in (FdType.IPV4_SOCK, FdType.IPV6_SOCK):
            v6 = kind == FdType.IPV6_SOCK
            st = _V6_TUPLE if v6 else _V4_TUPLE
            data = st.pack(
                _addr(self.sip, v6), _addr(self.dip, v6), self.sport, self.dport, self.l4proto
            )
        elif kind in (FdType.IPV4_SERVSOCK, FdType.IPV6_SERVSOCK):
            v6 = kind == FdType.IPV6_SERVSOCK
            st = _V6_SERVER if v6 else _V4_SERVER
            data = st.pack(_addr(self.sip, v6), self.sport, self.l4proto)
        elif kind == FdType.UNIX_SOCK:
            data = _UNIX.pack(self.source, self.destination) + _str(self.name, MAX_PATH - 1, "fd")
        elif kind == FdType.FILE_V2:
            data = _U32.pack(self.open_flags) + _str(self.name, MAX_PATH - 1, "fd name")
            if version >= 2:  # v1 entries have no length that would tell a reader it is there
                data += _U32.pack(self.dev)
        elif kind in _NAMED:
            data = _str(self.name, MAX_PATH - 1, "fd name")
        else:
            raise ValueError(f"fd {self.fd}: libscap writes no fd of type {kind}")
        body = head + data
        return _U32.pack(len(body) + 4) + body if version >= 2 else body

    @classmethod
    def decode(cls, cur: Cursor, version: int) -> FdInfo:
        """One entry at the cursor; v2 entries are skipped to their stated length."""
        start = cur.pos
        sub_len = cur.u32() if version >= 2 else 0
        fd, ino, kind = cur.unpack(_FD_HEAD)
        info = cls(fd=fd, ino=ino, type=kind)
        if kind in (FdType.IPV4_SOCK, FdType.IPV6_SOCK):
            st = _V6_TUPLE if kind == FdType.IPV6_SOCK else _V4_TUPLE
            sip, dip, info.sport, info.dport, info.l4proto = cur.unpack(st)
            info.sip, info.dip = ipaddress.ip_address(sip), ipaddress.ip_address(dip)
        elif kind in (FdType.IPV4_SERVSOCK, FdType.IPV6_SERVSOCK):
            st = _V6_SERVER if kind == FdType.IPV6_SERVSOCK else _V4_SERVER
            ip, info.sport, info.l4proto = cur.unpack(st)
            info.sip = ipaddress.ip_address(ip)
        elif kind == FdType.UNIX_SOCK:
            info.source, info.destination = cur.unpack(_UNIX)
            info.name = cur.text(MAX_PATH - 1, "fd name")
        elif kind == FdType.FILE_V2:
            info.open_flags = cur.u32()
            info.name = cur.text(MAX_PATH - 1, "fd name")
            if sub_len and sub_len >= cur.pos - start + 4:
                info.dev = cur.u32()
        elif kind in _NAMED:
            info.name = cur.text(MAX_PATH - 1, "fd name")
        elif kind != FdType.UNKNOWN:
            # a type from a newer libscap: libscap keeps it as unsupported, reading nothing more
            info.type = FdType.UNSUPPORTED
            info.name = f"unknown-type:[{kind}]"
        if sub_len:
            cur.end_entry(start, sub_len, f"the entry of fd {fd}")
        return info


def _addr(value: IPAddress | None, v6: bool) -> bytes:
    if value is None:
        return b"\0" * (16 if v6 else 4)
    if value.version != (6 if v6 else 4):
        raise ValueError(f"{value} is not an IPv{6 if v6 else 4} address")
    return value.packed


def decode_fd_list(body: bytes, version: int) -> tuple[int, list[FdInfo]]:
    """An fd list block body: the thread id and its fds."""
    cur = Cursor(body, "fd list")
    tid = cur.i64()
    fds = []
    while cur.left >= 4:
        fds.append(FdInfo.decode(cur, version))
    return tid, fds


def encode_fd_list(tid: int, fds: Iterable[FdInfo], version: int = 2) -> bytes:
    """An fd list block body."""
    return _I64.pack(tid) + b"".join(fd.encode(version) for fd in fds)


# --- threads ---------------------------------------------------------------------------------

#: Process list block versions (``PL_BLOCK_TYPE_V1`` ... ``V9``).
PROCLIST_VERSIONS = range(1, 10)
_STATS = struct.Struct("<IIIQQ")  # vmsize_kb, vmrss_kb, vmswap_kb, pfmajor, pfminor
_LIMITS = struct.Struct("<qIII")  # fdlimit, flags, uid, gid
#: v9 trailing fields, in file order, each read only when the entry is long enough.
_TAIL: tuple[tuple[str, str], ...] = (
    ("pidns_init_start_ts", "Q"),
    ("tty", "I"),
    ("loginuid", "I"),
    ("exe_writable", "?"),
    ("cap_inheritable", "Q"),
    ("cap_permitted", "Q"),
    ("cap_effective", "Q"),
    ("exe_upper_layer", "?"),
    ("exe_ino", "Q"),
    ("exe_ino_ctime", "Q"),
    ("exe_ino_mtime", "Q"),
    ("exe_from_memfd", "?"),
    ("exe_lower_layer", "?"),
    ("pgid", "q"),
)
_TAIL_STRUCTS = {code: struct.Struct("<" + code) for _, code in _TAIL}
#: Bytes of the fields libs before 0.10 had after the v5 ones (loginuid ... cap_effective).
_PRE_0_10_TAIL = 29


@dataclass
class ThreadInfo:
    """One entry of the process list (``scap_threadinfo``): a thread as /proc described it.

    ``args`` are the arguments after ``argv[0]`` (``exe``), ``env`` the environment entries,
    ``cgroups`` the ``subsystem=path`` entries, as the file stores them (NUL-separated there).
    ``fds`` are the thread's file descriptors from the fd list blocks.
    Fields an older process list block lacks keep libscap's defaults.
    """

    tid: int
    pid: int = -1
    ptid: int = -1
    sid: int = -1
    vpgid: int = -1
    pgid: int = -1
    comm: str = ""
    exe: str = ""
    exepath: str = ""
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    cwd: str = ""
    fdlimit: int = 0
    flags: int = 0
    uid: int = 0
    gid: int = 0
    vmsize_kb: int = 0
    vmrss_kb: int = 0
    vmswap_kb: int = 0
    pfmajor: int = 0
    pfminor: int = 0
    vtid: int = -1
    vpid: int = -1
    cgroups: tuple[str, ...] = ()
    root: str = ""
    pidns_init_start_ts: int = 0
    tty: int = 0
    loginuid: int = 0xFFFFFFFF
    exe_writable: bool = False
    cap_inheritable: int = 0
    cap_permitted: int = 0
    cap_effective: int = 0
    exe_upper_layer: bool = False
    exe_ino: int = 0
    exe_ino_ctime: int = 0
    exe_ino_mtime: int = 0
    exe_from_memfd: bool = False
    exe_lower_layer: bool = False
    fds: list[FdInfo] = field(default_factory=list)

    def encode(self, version: int = 9) -> bytes:
        """The entry's bytes in a process list block of ``version`` (1 to 9)."""
        if version not in PROCLIST_VERSIONS:
            raise ValueError(f"process list version {version}: libscap knows 1 to 9")
        parts = [struct.pack("<qqq", self.tid, self.pid, self.ptid)]
        if version >= 6:
            parts.append(_I64.pack(self.sid))
        if version >= 8:
            parts.append(_I64.pack(self.vpgid))
        parts.append(_str(self.comm, MAX_PATH, "comm"))
        parts.append(_str(self.exe, MAX_PATH, "exe"))
        if version >= 7:
            parts.append(_str(self.exepath, MAX_PATH, "exepath"))
        parts.append(_blob(join_nul(self.args), MAX_ARGS, "args"))
        parts.append(_str(self.cwd, MAX_PATH, "cwd"))
        parts.append(_LIMITS.pack(self.fdlimit, self.flags, self.uid, self.gid))
        if version >= 2:
            parts.append(
                _STATS.pack(
                    self.vmsize_kb, self.vmrss_kb, self.vmswap_kb, self.pfmajor, self.pfminor
                )
            )
        if version >= 3:
            parts.append(_blob(join_nul(self.env), MAX_ARGS, "env"))
        if version >= 4:
            parts.append(struct.pack("<qq", self.vtid, self.vpid))
            parts.append(_blob(join_nul(self.cgroups), MAX_ARGS, "cgroups"))
        if version >= 5:
            parts.append(_str(self.root, MAX_PATH, "root"))
        if version >= 9:
            parts.extend(_TAIL_STRUCTS[code].pack(getattr(self, name)) for name, code in _TAIL)
            body = b"".join(parts)
            return _U32.pack(len(body) + 4) + body
        return b"".join(parts)

    @classmethod
    def decode(cls, cur: Cursor, version: int) -> ThreadInfo:
        """One entry at the cursor (v9 entries are skipped to their stated length)."""
        start = cur.pos
        sub_len = cur.u32() if version >= 9 else 0
        tid, pid, ptid = struct.unpack("<qqq", cur.take(24))
        info = cls(tid=tid, pid=pid, ptid=ptid)
        if version >= 6:
            info.sid = cur.i64()
        if version >= 8:
            info.vpgid = cur.i64()
        info.comm = cur.text(MAX_PATH, "comm")
        info.exe = cur.text(MAX_PATH, "exe")
        if version >= 7:
            info.exepath = cur.text(MAX_PATH, "exepath")
        info.args = split_nul(cur.blob(MAX_ARGS, "args"))
        info.cwd = cur.text(MAX_PATH, "cwd")
        info.fdlimit, info.flags, info.uid, info.gid = cur.unpack(_LIMITS)
        if version >= 2:
            stats = cur.unpack(_STATS)
            info.vmsize_kb, info.vmrss_kb, info.vmswap_kb, info.pfmajor, info.pfminor = stats
        if version >= 3:
            info.env = split_nul(cur.blob(MAX_ARGS, "env"))
        if version >= 4:
            info.vtid, info.vpid = struct.unpack("<qq", cur.take(16))
            info.cgroups = split_nul(cur.blob(MAX_ARGS, "cgroups"))
        if version >= 5:
            info.root = cur.text(MAX_PATH, "root")
        if sub_len:
            # libs before 0.10 wrote only loginuid ... cap_effective here: then the two fields
            # 0.10 inserted in front of them (pidns_init_start_ts, tty) are not there
            tail = _TAIL if sub_len - (cur.pos - start) > _PRE_0_10_TAIL else _TAIL[2:]
            for name, code in tail:
                st = _TAIL_STRUCTS[code]
                if cur.pos - start + st.size > sub_len:
                    continue  # libscap tests each field on its own
                setattr(info, name, st.unpack(cur.take(st.size))[0])
            cur.end_entry(start, sub_len, f"the entry of thread {tid}")
        return info


def decode_proc_list(body: bytes, version: int) -> list[ThreadInfo]:
    """A process list block body of ``version``."""
    cur = Cursor(body, f"process list (v{version})")
    threads = []
    while cur.left >= 4:
        threads.append(ThreadInfo.decode(cur, version))
    return threads


def encode_proc_list(threads: Iterable[ThreadInfo], version: int = 9) -> bytes:
    """A process list block body of ``version``."""
    return b"".join(t.encode(version) for t in threads)


# --- interfaces ------------------------------------------------------------------------------

#: ``scap_ifinfo_type``: 1 IPv4, 2 IPv6, 3 and 4 the same without a link speed (old files).
IF_IPV4, IF_IPV6, IF_IPV4_NOLINKSPEED, IF_IPV6_NOLINKSPEED = 1, 2, 3, 4
_IF_LAYOUTS = {
    IF_IPV4: struct.Struct("<4s4s4sQ"),
    IF_IPV6: struct.Struct("<16s16s16sQ"),
    IF_IPV4_NOLINKSPEED: struct.Struct("<4s4s4s"),
    IF_IPV6_NOLINKSPEED: struct.Struct("<16s16s16s"),
}


@dataclass
class Interface:
    """A network interface address (``scap_ifinfo_ipv4``/``_ipv6``)."""

    name: str
    addr: IPAddress
    netmask: IPAddress
    bcast: IPAddress
    linkspeed: int = 0
    type: int = 0  # 0: IF_IPV4 or IF_IPV6 after the address

    def __post_init__(self) -> None:
        if not self.type:
            self.type = IF_IPV6 if self.addr.version == 6 else IF_IPV4

    def encode(self, version: int = 2) -> bytes:
        """The block's body in the given layout version (1 or 2)."""
        layout = _IF_LAYOUTS.get(self.type)
        if layout is None:
            raise ValueError(f"interface {self.name}: unknown type {self.type}")
        v6 = self.type in (IF_IPV6, IF_IPV6_NOLINKSPEED)
        name = _raw(self.name)
        if len(name) >= MAX_PATH:
            raise ValueError(f"interface name of {len(name)} bytes")
        addrs = [_addr(a, v6) for a in (self.addr, self.netmask, self.bcast)]
        if self.type in (IF_IPV4, IF_IPV6):
            addrs.append(self.linkspeed)  # type: ignore[arg-type]
        body = struct.pack("<HH", self.type, len(name)) + layout.pack(*addrs) + name
        return _U32.pack(len(body)) + body if version >= 2 else body


def decode_interfaces(body: bytes, version: int) -> list[Interface]:
    """An interface list block body."""
    cur = Cursor(body, "interface list")
    out = []
    while cur.left >= 4:
        size = cur.u32() if version >= 2 else None
        start = cur.pos
        kind, namelen = struct.unpack("<HH", cur.take(4))
        layout = _IF_LAYOUTS.get(kind)
        if layout is None:
            raise CaptureFormatError(f"interface list: unknown interface type {kind}")
        if namelen >= MAX_PATH:
            raise CaptureFormatError(f"interface list: name of {namelen} bytes")
        values = cur.unpack(layout)
        name = _text(cur.take(namelen))
        addr, mask, bcast = (ipaddress.ip_address(v) for v in values[:3])
        out.append(Interface(name, addr, mask, bcast, values[3] if len(values) > 3 else 0, kind))
        if size is not None:
            cur.end_entry(start, size, f"the entry of {name}")
    return out


def encode_interfaces(interfaces: Iterable[Interface], version: int = 2) -> bytes:
    return b"".join(i.encode(version) for i in interfaces)


# --- users and groups ------------------------------------------------------------------------


@dataclass
class User:
    """A user of the machine (``scap_userinfo``)."""

    uid: int
    gid: int
    name: str
    homedir: str = ""
    shell: str = ""


@dataclass
class Group:
    """A group of the machine (``scap_groupinfo``)."""

    gid: int
    name: str


def decode_users(body: bytes, version: int) -> tuple[list[User], list[Group]]:
    """A user list block body: users and groups."""
    cur = Cursor(body, "user list")
    users: list[User] = []
    groups: list[Group] = []
    limit = MAX_CREDENTIAL - 1
    while cur.left >= 4:
        start = cur.pos
        sub_len = cur.u32() if version >= 2 else 0
        if cur.u8() == 0:
            uid, gid = struct.unpack("<II", cur.take(8))
            name = cur.text(limit, "user name")
            home = cur.text(limit, "user homedir")
            users.append(User(uid, gid, name, home, cur.text(limit, "user shell")))
        else:
            gid = cur.u32()
            groups.append(Group(gid, cur.text(limit, "group name")))
        if sub_len:
            cur.end_entry(start, sub_len, "an entry")
    return users, groups


def encode_users(users: Iterable[User], groups: Iterable[Group], version: int = 2) -> bytes:
    """A user list block body (users first, then groups, as libscap writes them)."""
    limit = MAX_CREDENTIAL - 1
    entries = [
        b"\0"
        + struct.pack("<II", u.uid, u.gid)
        + _str(u.name, limit, "user name")
        + _str(u.homedir, limit, "user homedir")
        + _str(u.shell, limit, "user shell")
        for u in users
    ]
    entries += [b"\1" + _U32.pack(g.gid) + _str(g.name, limit, "group name") for g in groups]
    if version >= 2:
        entries = [_U32.pack(len(e) + 4) + e for e in entries]
    return b"".join(entries)
