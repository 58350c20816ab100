"""``--capture FILE.scap``: a capture replayed into the plugins the way libsinsp replays it.

The capture is read by :func:`falco_plugin.event.replay.replay_input`: its events go to the
engine as a raw event stream (``stream.c``, the ``syscall`` source) with a flag per event
(shown or only parsed) and its cpu; each section's process list becomes the threads table
when the section starts (``P_SECTION``, with the section's users, groups and boot time).
The engine rebuilds libsinsp's state from the events (``sstate*.c``): this module tells it,
per event type, which of libsinsp's parsers applies (``P_EVENT_INFO``: the parser kind,
how the event's thread is found, where its fd is, its flags and category, its parameter
types), read from the event schema and libsinsp's parser dispatch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..event._generated import EVENT_TABLE, PARAM_TYPE_CODES, PPM_SC_NAMES
from ..event.replay import ReplayInput, ReplaySection, replay_input
from .threads import fixture_ops
from .wire import C, Plan

__all__ = ["CaptureReplay", "event_info_items", "prepare_capture"]

_CODE = {row[1]: row[0] for row in EVENT_TABLE}

#: libsinsp's parser per event type (sinsp_parser::process_event): id -> (SK_*, arg).
PARSERS: dict[str, tuple[str, int]] = {
    # enter events kept for their exit (arg 1: only when their first parameter is present)
    **{i: ("SK_STORE", 1) for i in ("PPME_SYSCALL_OPEN_E", "PPME_SYSCALL_CREAT_E",
                                      "PPME_SYSCALL_OPENAT_2_E", "PPME_SYSCALL_OPENAT2_E",
                                      "PPME_SYSCALL_EXECVE_19_E")},
    "PPME_SYSCALL_EXECVEAT_E": ("SK_STORE", 0),
    "PPME_SOCKET_CONNECT_E": ("SK_STORE", 0),
    # processes
    "PPME_SYSCALL_CLONE_20_X": ("SK_CLONE", 0),
    "PPME_SYSCALL_FORK_20_X": ("SK_CLONE", 0),
    "PPME_SYSCALL_VFORK_20_X": ("SK_CLONE", 1),
    "PPME_SYSCALL_CLONE3_X": ("SK_CLONE", 0),
    "PPME_SYSCALL_EXECVE_19_X": ("SK_EXECVE", 0),
    "PPME_SYSCALL_EXECVEAT_X": ("SK_EXECVE", 0),
    "PPME_PROCEXIT_1_E": ("SK_PROCEXIT", 0),
    "PPME_SYSCALL_SETUID_X": ("SK_SETUID", 1),
    "PPME_SYSCALL_SETRESUID_X": ("SK_SETUID", 2),
    "PPME_SYSCALL_SETREUID_X": ("SK_SETUID", 2),
    "PPME_SYSCALL_SETGID_X": ("SK_SETGID", 1),
    "PPME_SYSCALL_SETRESGID_X": ("SK_SETGID", 2),
    "PPME_SYSCALL_SETREGID_X": ("SK_SETGID", 2),
    "PPME_SYSCALL_GETRLIMIT_X": ("SK_RLIMIT", 0),
    "PPME_SYSCALL_SETRLIMIT_X": ("SK_RLIMIT", 0),
    "PPME_SYSCALL_PRLIMIT_X": ("SK_PRLIMIT", 0),
    "PPME_SYSCALL_CHDIR_X": ("SK_CHDIR", 0),
    "PPME_SYSCALL_FCHDIR_X": ("SK_FCHDIR", 0),
    "PPME_SYSCALL_GETCWD_X": ("SK_GETCWD", 0),
    "PPME_SYSCALL_CHROOT_X": ("SK_CHROOT", 0),
    "PPME_SYSCALL_SETSID_X": ("SK_SETSID", 0),
    "PPME_USER_ADDED_E": ("SK_USER_EVT", 1),
    "PPME_USER_DELETED_E": ("SK_USER_EVT", 0),
    "PPME_GROUP_ADDED_E": ("SK_GROUP_EVT", 1),
    "PPME_GROUP_DELETED_E": ("SK_GROUP_EVT", 0),
    "PPME_SYSCALL_CAPSET_X": ("SK_CAPSET", 0),
    "PPME_SYSCALL_UNSHARE_X": ("SK_UNSHARE", 1),
    "PPME_SYSCALL_SETNS_X": ("SK_UNSHARE", 2),
    "PPME_SYSCALL_PRCTL_X": ("SK_PRCTL", 0),
    **{i: ("SK_VM", 0) for i in ("PPME_SYSCALL_BRK_4_X", "PPME_SYSCALL_MMAP_X",
                                   "PPME_SYSCALL_MMAP2_X", "PPME_SYSCALL_MUNMAP_X")},
    "PPME_SCHEDSWITCH_6_E": ("SK_SCHEDSWITCH", 0),
    # file descriptors
    "PPME_SYSCALL_OPEN_X": ("SK_OPEN", 0),
    "PPME_SYSCALL_CREAT_X": ("SK_OPEN", 1),
    "PPME_SYSCALL_OPENAT_2_X": ("SK_OPEN", 2),
    "PPME_SYSCALL_OPENAT2_X": ("SK_OPEN", 3),
    "PPME_SYSCALL_OPEN_BY_HANDLE_AT_X": ("SK_OPEN", 4),
    "PPME_SOCKET_SOCKET_X": ("SK_SOCKET", 0),
    "PPME_SOCKET_BIND_X": ("SK_BIND", 0),
    "PPME_SOCKET_CONNECT_X": ("SK_CONNECT", 0),
    "PPME_SOCKET_ACCEPT_5_X": ("SK_ACCEPT", 0),
    "PPME_SOCKET_ACCEPT4_6_X": ("SK_ACCEPT", 1),
    "PPME_SYSCALL_CLOSE_X": ("SK_CLOSE", 0),
    "PPME_SYSCALL_CLOSE_RANGE_X": ("SK_CLOSE_RANGE", 0),
    "PPME_SYSCALL_DUP_1_X": ("SK_DUP", 0),
    "PPME_SYSCALL_DUP2_X": ("SK_DUP", 0),
    "PPME_SYSCALL_DUP3_X": ("SK_DUP", 1),
    "PPME_SYSCALL_PIPE_X": ("SK_PIPE", 0),
    "PPME_SYSCALL_PIPE2_X": ("SK_PIPE", 1),
    "PPME_SOCKET_SOCKETPAIR_X": ("SK_SOCKETPAIR", 0),
    "PPME_SYSCALL_EVENTFD_X": ("SK_EVENTFD", 0),
    "PPME_SYSCALL_EVENTFD2_X": ("SK_EVENTFD", 1),
    "PPME_SYSCALL_SIGNALFD_X": ("SK_SINGLE_FD", 11),
    "PPME_SYSCALL_SIGNALFD4_X": ("SK_SINGLE_FD", 11),
    "PPME_SYSCALL_TIMERFD_CREATE_X": ("SK_SINGLE_FD", 14),
    "PPME_SYSCALL_INOTIFY_INIT_X": ("SK_SINGLE_FD", 13),
    "PPME_SYSCALL_INOTIFY_INIT1_X": ("SK_SINGLE_FD", 13),
    "PPME_SYSCALL_BPF_2_X": ("SK_SINGLE_FD", 17),
    "PPME_SYSCALL_USERFAULTFD_X": ("SK_SINGLE_FD", 18),
    "PPME_SYSCALL_IO_URING_SETUP_X": ("SK_SINGLE_FD", 19),
    "PPME_SYSCALL_EPOLL_CREATE_X": ("SK_SINGLE_FD", 12),
    "PPME_SYSCALL_EPOLL_CREATE1_X": ("SK_SINGLE_FD", 12),
    "PPME_SYSCALL_MEMFD_CREATE_X": ("SK_MEMFD", 0),
    "PPME_SYSCALL_FCNTL_X": ("SK_FCNTL", 0),
    **{i: ("SK_READ", 0) for i in ("PPME_SYSCALL_READ_X", "PPME_SYSCALL_READV_X",
                                     "PPME_SYSCALL_PREAD_X", "PPME_SYSCALL_PREADV_X")},
    "PPME_SOCKET_RECV_X": ("SK_READ", 4),
    "PPME_SOCKET_RECVFROM_X": ("SK_READ", 2),
    "PPME_SOCKET_RECVMSG_X": ("SK_READ", 3),
    "PPME_SOCKET_RECVMMSG_X": ("SK_READ", 128 + 4),
    **{i: ("SK_WRITE", 0) for i in ("PPME_SYSCALL_WRITE_X", "PPME_SYSCALL_WRITEV_X",
                                      "PPME_SYSCALL_PWRITE_X", "PPME_SYSCALL_PWRITEV_X")},
    **{i: ("SK_WRITE", 1) for i in ("PPME_SOCKET_SEND_X", "PPME_SOCKET_SENDTO_X",
                                      "PPME_SOCKET_SENDMSG_X")},
    "PPME_SOCKET_SENDMMSG_X": ("SK_WRITE", 2),
    "PPME_SYSCALL_PIDFD_OPEN_X": ("SK_PIDFD_OPEN", 0),
    "PPME_SYSCALL_PIDFD_GETFD_X": ("SK_PIDFD_GETFD", 0),
}  # fmt: skip

#: Events libsinsp gives no thread (meta events), and those whose thread it only looks up.
NO_THREAD = frozenset({"PPME_CONTAINER_JSON_2_E", "PPME_USER_ADDED_E", "PPME_USER_DELETED_E",
                       "PPME_GROUP_ADDED_E", "PPME_GROUP_DELETED_E", "PPME_PLUGINEVENT_E",
                       "PPME_ASYNCEVENT_E"})  # fmt: skip
FIND_ONLY = frozenset({"PPME_SYSCALL_CLONE_20_X", "PPME_SYSCALL_CLONE3_X",
                       "PPME_SYSCALL_FORK_20_X", "PPME_SYSCALL_VFORK_20_X",
                       "PPME_PROCEXIT_1_E"})  # fmt: skip

#: Where the fd of an event using one is (libscap's get_*_event_fd_location).
ENTER_FD_AT = {"PPME_SYSCALL_MMAP_E": 4, "PPME_SYSCALL_MMAP2_E": 4, "PPME_SYSCALL_SPLICE_E": 1}
EXIT_FD_AT = {
    **dict.fromkeys((
        "SETNS", "LISTEN", "SHUTDOWN", "FCHDIR", "LSEEK", "LLSEEK", "IOCTL_3", "FSTAT", "CLOSE",
        "GETDENTS", "GETDENTS64", "FLOCK", "COPY_FILE_RANGE", "FCNTL", "DUP_1", "DUP2", "DUP3",
        "NEWFSTATAT", "FCHOWNAT", "FCHMODAT", "MKDIRAT", "UNLINKAT_2", "MKNODAT", "SENDMMSG",
        "RECVMMSG", "IO_URING_REGISTER", "IO_URING_ENTER", "SETSOCKOPT", "GETSOCKOPT",
        "FSCONFIG", "FINIT_MODULE", "FCHMOD", "FCHOWN"), 1),
    **dict.fromkeys((
        "READ", "PREAD", "BIND", "WRITE", "PWRITE", "RECV", "SEND", "SENDTO", "SENDMSG",
        "SENDFILE", "SPLICE", "WRITEV", "PWRITEV", "CONNECT", "SYMLINKAT"), 2),
    **dict.fromkeys(("RECVFROM", "READV", "PREADV"), 3),
    "RECVMSG": 5,
    **dict.fromkeys(("MMAP", "MMAP2"), 8),
}  # fmt: skip
NO_FD = 255
PLUGIN_EVENT = _CODE["PPME_PLUGINEVENT_E"]
NO_ENTER = 65535


def _exit_fd_location(event_id: str) -> int:
    for prefix in ("PPME_SYSCALL_", "PPME_SOCKET_"):
        if event_id.startswith(prefix) and event_id.endswith("_X"):
            return EXIT_FD_AT.get(event_id[len(prefix) : -2], NO_FD)
    return NO_FD


def event_info_items(plan: Plan) -> None:
    """``P_EVENT_INFO`` for every event type of the schema, and the syscall names."""
    for code, event_id, name, direction, categories, flags, _large, params in EVENT_TABLE:
        kind, arg = PARSERS.get(event_id, ("SK_NONE", 0))
        if "EF_SKIPPARSERESET" in flags:
            reset = "RS_SKIP"
        elif event_id in NO_THREAD:
            reset = "RS_NONE"
        elif event_id in FIND_ONLY:
            reset = "RS_FIND"
        elif event_id == "PPME_SCHEDSWITCH_6_E":
            reset = "RS_SCHED"
        else:
            reset = "RS_THREAD"
        fdloc = NO_FD
        if "EF_USES_FD" in flags and direction == ">":
            fdloc = ENTER_FD_AT.get(event_id, 0)
        elif "EF_USES_FD" in flags:
            fdloc = _exit_fd_location(event_id)
        alt = NO_ENTER
        if event_id == "PPME_SYSCALL_EXECVE_19_X":  # an execveat enter pairs with it too
            alt = _CODE["PPME_SYSCALL_EXECVEAT_E"]
        plan.item("P_EVENT_INFO").u32(code).u8(C[kind]).u8(arg).u8(C[reset]).u8(fdloc)
        plan.u32(sum(C[f] for f in flags)).u32(sum(C[c] for c in categories))
        plan.u32(code - 1 if direction == "<" else NO_ENTER).u32(alt).str(name)
        plan.str(bytes(PARAM_TYPE_CODES[p[2]] for p in params))
        for p in params:
            plan.str(p[0])
    for sc, sc_name in enumerate(PPM_SC_NAMES):
        plan.item("P_SYSCALL_NAME").u32(sc).str(sc_name)


@dataclass
class CaptureReplay:
    """A capture made ready for the engine: its events in one stream file, its sections."""

    path: str
    replay: ReplayInput
    stream: Path
    starts: list[int] = field(default_factory=list)
    tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def shown(self) -> bytes:
        return bytes(int(s) for sec in self.replay.sections for s in sec.shown)

    @property
    def cpus(self) -> bytes:
        return b"".join(c.to_bytes(2, "little") for sec in self.replay.sections for c in sec.cpus)

    def plugin_ids(self) -> set[int]:
        """The plugin ids of the capture's plugin events."""
        ids = set()
        for sec in self.replay.sections:
            data = sec.events
            for offset, _length in sec.offsets():
                if int.from_bytes(data[offset + 20 : offset + 22], "little") == PLUGIN_EVENT:
                    ids.add(int.from_bytes(data[offset + 34 : offset + 38], "little"))
        return ids

    def plan_items(self, plan: Plan) -> None:
        """The sections (process list, extras, users, groups) and the event types' facts."""
        for k, (start, section) in enumerate(zip(self.starts, self.replay.sections, strict=True)):
            _section_items(plan, start, section, k > 0)
        event_info_items(plan)

    def close(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


def _section_items(plan: Plan, start: int, section: ReplaySection, later: bool) -> None:
    ops = fixture_ops(section.threads, f"the capture's process list (event {start + 1} on)")
    # libsinsp replays the first section with a boot time of 0 whatever the file's machine
    # info says: libscap zeroes the platform's machine info (scap_generic_init_platform) after
    # the savefile engine has read it. A later section's is read again at the restart, without
    # that reset: its threads get the file's boot time (pidns_init_start_ts), as there.
    plan.item("P_SECTION").u64(start).u64(section.boot_ts if later else 0).str(ops)
    for x in section.extras:
        plan.item("P_THREAD_EXTRA").u64(x["tid"]).u64(0)
        for key in ("cap_permitted", "cap_effective", "cap_inheritable", "vmsize_kb",
                    "vmrss_kb", "vmswap_kb", "pfmajor", "pfminor"):  # fmt: skip
            plan.u64(x[key])
        plan.u64(0).u64(0)
    for u in section.users:
        plan.item("P_USER").u32(u.uid).u32(u.gid).str(u.name).str(u.homedir).str(u.shell)
    for g in section.groups:
        plan.item("P_GROUP").u32(g.gid).str(g.name)


def prepare_capture(path: str) -> CaptureReplay:
    """Reads the capture (raises CaptureFormatError, OSError) and writes its event stream to a
    temporary file (removed by :meth:`CaptureReplay.close`)."""
    replay = replay_input(path)
    tmp = tempfile.TemporaryDirectory(prefix="fp-capture-")
    stream = Path(tmp.name) / "events.raw"
    starts = []
    at = 0
    with stream.open("wb") as out:
        for section in replay.sections:
            starts.append(at)
            out.write(section.events)
            at += section.count
    return CaptureReplay(path, replay, stream, starts, tmp)
