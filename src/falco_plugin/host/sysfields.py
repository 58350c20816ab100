"""libsinsp's syscall fields the SDK host extracts on a replayed capture: a documented subset
of ``proc.*``, ``thread.*``, ``fd.*``, ``user.*``, ``group.*`` and the syscall ``evt.*`` fields,
with libsinsp's names, types (the ``PT_*`` types its filterchecks declare) and argument rules.

The engine (``sysfields*.c``) computes them from the state ``sstate*.c`` rebuilt, the way the
filterchecks of libsinsp do (``sinsp_filtercheck_{thread,fd,event,user,group}.cpp``).
:data:`SYS_FIELDS` is the supported list; :func:`resolve` turns ``name`` or ``name[arg]``
into what the engine needs, with libsinsp's refusals.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..event._generated import EVENT_TABLE

__all__ = ["SYS_CLASSES", "SYS_FIELDS", "SysField", "SysFieldError", "resolve", "sys_type_code"]

#: The field classes of libsinsp's syscall filterchecks (a field of these the subset lacks is
#: refused with a clear message rather than as an unknown field).
SYS_CLASSES = frozenset({"proc", "thread", "fd", "evt", "user", "group", "syscall", "fdlist",
                         "fs", "container", "k8s"})  # fmt: skip

#: Host type names of the syscall fields and their PT_* codes (beyond the plugin types).
SYS_TYPES = {"int16": 2, "int32": 3, "int64": 4, "uint32": 7, "port": 22}
SIGNED = frozenset({"int16", "int32", "int64"})
#: Bits of the integer types, for constants parsed as libsinsp parses them.
BITS = {"int16": 16, "int32": 32, "int64": 64, "uint32": 32, "port": 16, "uint64": 64,
        "reltime": 64, "abstime": 64}  # fmt: skip


class SysFieldError(Exception):
    """A syscall field spec libsinsp would refuse."""


@dataclass(frozen=True)
class SysField:
    """One supported field: its engine code (``SF_*``), type, argument rule and list-ness."""

    code: str
    type: str
    arg: str = ""  # "", "index" (name[N]), "index_opt", "name" (name[NAME]), "env" (NAME or N),
    #                "dot" (thread.cgroup.SUBSYS), "param" (evt.arg.NAME / evt.arg[N])
    is_list: bool = False
    filter_only: bool = False


def _f(code: str, ftype: str = "string", arg: str = "", **kw: bool) -> SysField:
    return SysField(code, ftype, arg, **kw)


SYS_FIELDS: dict[str, SysField] = {
    # processes and threads (sinsp_filter_check_thread)
    "proc.exe": _f("SF_PROC_EXE"),
    "proc.pexe": _f("SF_PROC_PEXE"),
    "proc.aexe": _f("SF_PROC_AEXE", arg="index_opt"),
    "proc.exepath": _f("SF_PROC_EXEPATH"),
    "proc.pexepath": _f("SF_PROC_PEXEPATH"),
    "proc.aexepath": _f("SF_PROC_AEXEPATH", arg="index_opt"),
    "proc.name": _f("SF_PROC_NAME"),
    "proc.pname": _f("SF_PROC_PNAME"),
    "proc.aname": _f("SF_PROC_ANAME", arg="index_opt"),
    "proc.args": _f("SF_PROC_ARGS", arg="index_opt"),
    "proc.aargs": _f("SF_PROC_AARGS", arg="index_opt"),
    "proc.cmdline": _f("SF_PROC_CMDLINE"),
    "proc.pcmdline": _f("SF_PROC_PCMDLINE"),
    "proc.acmdline": _f("SF_PROC_ACMDLINE", arg="index_opt"),
    "proc.cmdnargs": _f("SF_PROC_CMDNARGS", "uint64"),
    "proc.cmdlenargs": _f("SF_PROC_CMDLENARGS", "uint64"),
    "proc.exeline": _f("SF_PROC_EXELINE"),
    "proc.env": _f("SF_PROC_ENV", arg="env"),
    "proc.aenv": _f("SF_PROC_AENV", arg="env"),
    "proc.cwd": _f("SF_PROC_CWD"),
    "proc.loginshellid": _f("SF_PROC_LOGINSHELLID", "int64"),
    "proc.tty": _f("SF_PROC_TTY", "uint32"),
    "proc.pid": _f("SF_PROC_PID", "int64"),
    "proc.ppid": _f("SF_PROC_PPID", "int64"),
    "proc.apid": _f("SF_PROC_APID", "int64", arg="index_opt"),
    "proc.vpid": _f("SF_PROC_VPID", "int64"),
    "proc.pvpid": _f("SF_PROC_PVPID", "int64"),
    "proc.sid": _f("SF_PROC_SID", "int64"),
    "proc.sname": _f("SF_PROC_SNAME"),
    "proc.sid.exe": _f("SF_PROC_SID_EXE"),
    "proc.sid.exepath": _f("SF_PROC_SID_EXEPATH"),
    "proc.vpgid": _f("SF_PROC_VPGID", "int64"),
    "proc.vpgid.name": _f("SF_PROC_VPGID_NAME"),
    "proc.vpgid.exe": _f("SF_PROC_VPGID_EXE"),
    "proc.vpgid.exepath": _f("SF_PROC_VPGID_EXEPATH"),
    "proc.pgid": _f("SF_PROC_PGID", "int64"),
    "proc.pgid.name": _f("SF_PROC_PGID_NAME"),
    "proc.pgid.exe": _f("SF_PROC_PGID_EXE"),
    "proc.pgid.exepath": _f("SF_PROC_PGID_EXEPATH"),
    "proc.duration": _f("SF_PROC_DURATION", "reltime"),
    "proc.ppid.duration": _f("SF_PROC_PPID_DURATION", "reltime"),
    "proc.pid.ts": _f("SF_PROC_PID_TS", "reltime"),
    "proc.ppid.ts": _f("SF_PROC_PPID_TS", "reltime"),
    "proc.is_exe_writable": _f("SF_PROC_IS_EXE_WRITABLE", "bool"),
    "proc.is_exe_upper_layer": _f("SF_PROC_IS_EXE_UPPER_LAYER", "bool"),
    "proc.is_exe_lower_layer": _f("SF_PROC_IS_EXE_LOWER_LAYER", "bool"),
    "proc.is_exe_from_memfd": _f("SF_PROC_IS_EXE_FROM_MEMFD", "bool"),
    "proc.is_sid_leader": _f("SF_PROC_IS_SID_LEADER", "bool"),
    "proc.is_vpgid_leader": _f("SF_PROC_IS_VPGID_LEADER", "bool"),
    "proc.is_pgid_leader": _f("SF_PROC_IS_PGID_LEADER", "bool"),
    "proc.exe_ino": _f("SF_PROC_EXE_INO", "int64"),
    "proc.exe_ino.ctime": _f("SF_PROC_EXE_INO_CTIME", "abstime"),
    "proc.exe_ino.mtime": _f("SF_PROC_EXE_INO_MTIME", "abstime"),
    "proc.exe_ino.ctime_duration_proc_start": _f("SF_PROC_EXE_INO_DUR_CLONE", "abstime"),
    "proc.exe_ino.ctime_duration_pidns_start": _f("SF_PROC_EXE_INO_DUR_PIDNS", "abstime"),
    "proc.pidns_init_start_ts": _f("SF_PROC_PIDNS_INIT_START_TS", "uint64"),
    "proc.fdopencount": _f("SF_PROC_FDOPENCOUNT", "uint64"),
    "proc.fdlimit": _f("SF_PROC_FDLIMIT", "int64"),
    "proc.vmsize": _f("SF_PROC_VMSIZE", "uint64"),
    "proc.vmrss": _f("SF_PROC_VMRSS", "uint64"),
    "proc.vmswap": _f("SF_PROC_VMSWAP", "uint64"),
    "proc.nthreads": _f("SF_PROC_NTHREADS", "uint64"),
    "proc.nchilds": _f("SF_PROC_NCHILDS", "uint64"),
    "proc.stdin.type": _f("SF_PROC_STDIN_TYPE"),
    "proc.stdout.type": _f("SF_PROC_STDOUT_TYPE"),
    "proc.stderr.type": _f("SF_PROC_STDERR_TYPE"),
    "proc.stdin.name": _f("SF_PROC_STDIN_NAME"),
    "proc.stdout.name": _f("SF_PROC_STDOUT_NAME"),
    "proc.stderr.name": _f("SF_PROC_STDERR_NAME"),
    "thread.pfmajor": _f("SF_THREAD_PFMAJOR", "uint64"),
    "thread.pfminor": _f("SF_THREAD_PFMINOR", "uint64"),
    "thread.tid": _f("SF_THREAD_TID", "int64"),
    "thread.ismain": _f("SF_THREAD_ISMAIN", "bool"),
    "thread.vtid": _f("SF_THREAD_VTID", "int64"),
    "thread.cgroups": _f("SF_THREAD_CGROUPS"),
    "thread.cgroup": _f("SF_THREAD_CGROUP", arg="dot"),
    "thread.vmsize": _f("SF_THREAD_VMSIZE", "uint64"),
    "thread.vmrss": _f("SF_THREAD_VMRSS", "uint64"),
    # users and groups
    "user.uid": _f("SF_USER_UID", "uint32"),
    "user.name": _f("SF_USER_NAME"),
    "user.homedir": _f("SF_USER_HOMEDIR"),
    "user.shell": _f("SF_USER_SHELL"),
    "user.loginuid": _f("SF_USER_LOGINUID", "int64"),
    "user.loginname": _f("SF_USER_LOGINNAME"),
    "group.gid": _f("SF_GROUP_GID", "uint32"),
    "group.name": _f("SF_GROUP_NAME"),
    # file descriptors (sinsp_filter_check_fd)
    "fd.num": _f("SF_FD_NUM", "int64"),
    "fd.type": _f("SF_FD_TYPE"),
    "fd.typechar": _f("SF_FD_TYPECHAR"),
    "fd.name": _f("SF_FD_NAME"),
    "fd.directory": _f("SF_FD_DIRECTORY"),
    "fd.filename": _f("SF_FD_FILENAME"),
    "fd.cip": _f("SF_FD_CIP", "ipaddr"),
    "fd.sip": _f("SF_FD_SIP", "ipaddr"),
    "fd.cport": _f("SF_FD_CPORT", "port"),
    "fd.sport": _f("SF_FD_SPORT", "port"),
    "fd.cproto": _f("SF_FD_CPROTO"),
    "fd.sproto": _f("SF_FD_SPROTO"),
    "fd.l4proto": _f("SF_FD_L4PROTO"),
    "fd.sockfamily": _f("SF_FD_SOCKFAMILY"),
    "fd.uid": _f("SF_FD_UID"),
    "fd.connected": _f("SF_FD_CONNECTED", "bool"),
    "fd.name_changed": _f("SF_FD_NAME_CHANGED", "bool"),
    "fd.dev": _f("SF_FD_DEV", "int32"),
    "fd.dev.major": _f("SF_FD_DEV_MAJOR", "int32"),
    "fd.dev.minor": _f("SF_FD_DEV_MINOR", "int32"),
    "fd.ino": _f("SF_FD_INO", "int64"),
    "fd.nameraw": _f("SF_FD_NAMERAW"),
    "fd.types": _f("SF_FD_TYPES", arg="index_opt", is_list=True),
    "fd.is_upper_layer": _f("SF_FD_IS_UPPER_LAYER", "bool"),
    "fd.is_lower_layer": _f("SF_FD_IS_LOWER_LAYER", "bool"),
    # syscall events (sinsp_filter_check_event)
    "evt.type": _f("SF_EVT_TYPE"),
    "syscall.type": _f("SF_SYSCALL_TYPE"),
    "evt.dir": _f("SF_EVT_DIR"),
    "evt.category": _f("SF_EVT_CATEGORY"),
    "evt.cpu": _f("SF_EVT_CPU", "int16"),
    "evt.rawres": _f("SF_EVT_RAWRES", "int64"),
    "evt.failed": _f("SF_EVT_FAILED", "bool"),
    "evt.is_io": _f("SF_EVT_IS_IO", "bool"),
    "evt.is_io_read": _f("SF_EVT_IS_IO_READ", "bool"),
    "evt.is_io_write": _f("SF_EVT_IS_IO_WRITE", "bool"),
    "evt.io_dir": _f("SF_EVT_IO_DIR"),
    "evt.is_wait": _f("SF_EVT_IS_WAIT", "bool"),
    "evt.is_syslog": _f("SF_EVT_IS_SYSLOG", "bool"),
    "evt.count": _f("SF_EVT_COUNT", "uint32"),
    "evt.count.error": _f("SF_EVT_COUNT_ERROR", "uint32"),
    "evt.count.exit": _f("SF_EVT_COUNT_EXIT", "uint32"),
    "evt.is_open_read": _f("SF_EVT_IS_OPEN_READ", "bool"),
    "evt.is_open_write": _f("SF_EVT_IS_OPEN_WRITE", "bool"),
    "evt.is_open_exec": _f("SF_EVT_IS_OPEN_EXEC", "bool"),
    "evt.is_open_create": _f("SF_EVT_IS_OPEN_CREATE", "bool"),
    "evt.rawarg": _f("SF_EVT_RAWARG", arg="param"),
}

#: Fields the engine computes for a replayed capture only (no thread state otherwise).
_PARAM_TYPES = {
    "PT_INT8": "int64", "PT_INT16": "int16", "PT_INT32": "int32", "PT_INT64": "int64",
    "PT_FD": "int64", "PT_PID": "int64", "PT_ERRNO": "int64", "PT_UINT8": "uint32",
    "PT_UINT16": "uint32", "PT_UINT32": "uint32", "PT_UINT64": "uint64", "PT_FLAGS8": "uint32",
    "PT_FLAGS16": "uint32", "PT_FLAGS32": "uint32", "PT_ENUMFLAGS8": "uint32",
    "PT_ENUMFLAGS16": "uint32", "PT_ENUMFLAGS32": "uint32", "PT_UID": "uint32",
    "PT_GID": "uint32", "PT_MODE": "uint32", "PT_SIGTYPE": "uint32", "PT_PORT": "port",
    "PT_RELTIME": "reltime", "PT_ABSTIME": "abstime", "PT_CHARBUF": "string",
    "PT_FSPATH": "string", "PT_FSRELPATH": "string", "PT_SYSCALLID": "uint32",
}  # fmt: skip


def sys_type_code(ftype: str) -> int | None:
    """The PT_* code of a syscall field type that is no plugin field type."""
    return SYS_TYPES.get(ftype)


def _param_type(name: str) -> str:
    """evt.rawarg.NAME's type: the type of the longest parameter name that starts ``name``
    in the first event type having it, as libsinsp's find_longest_matching_evt_param picks."""
    best, best_len = None, 0
    for row in EVENT_TABLE:
        for p in row[7]:
            if len(p[0]) > best_len and name.startswith(p[0]) and len(p[0]) <= len(name):
                best, best_len = p[2], len(p[0])
    if best is None:
        raise SysFieldError(f"filter_check called with nonexistent field evt.rawarg.{name}")
    if best not in _PARAM_TYPES:
        raise SysFieldError(
            f"evt.rawarg.{name}: the SDK host extracts raw parameters of number and string "
            f"types only, not {best}"
        )
    return _PARAM_TYPES[best]


@dataclass(frozen=True)
class Resolved:
    """A field spec resolved for the engine."""

    name: str
    field: SysField
    type: str
    arg_index: int = -1
    arg_key: str | None = None


def resolve(name: str, arg: str | None) -> Resolved:
    """``name`` (``evt.rawarg.NAME`` and ``thread.cgroup.SUBSYS`` included) with its bracket
    argument, checked like libsinsp's parse_field_name; SysFieldError otherwise."""
    if name.startswith("evt.rawarg.") and arg is None:
        return Resolved(name, SYS_FIELDS["evt.rawarg"], _param_type(name[11:]), -1, name[11:])
    if name.startswith("thread.cgroup.") and arg is None:
        return Resolved(name, SYS_FIELDS["thread.cgroup"], "string", -1, name[14:])
    f = SYS_FIELDS[name]
    if f.arg in ("", "dot", "param"):
        if arg is not None or f.arg in ("dot", "param"):
            raise SysFieldError(f"filter_check called with nonexistent field {name}"
                                + (f"[{arg}]" if arg is not None else ""))  # fmt: skip
        return Resolved(name, f, f.type)
    if arg is None:
        return Resolved(name, f, f.type)
    if f.arg == "env" and not (arg and arg.isdigit()):
        return Resolved(name, f, f.type, -1, arg)
    try:
        index = int(arg, 10)
    except ValueError:
        raise SysFieldError(f"{arg} is not a valid number") from None
    return Resolved(name, f, f.type, index)
