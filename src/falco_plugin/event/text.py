"""Text and JSON forms of typed events, the text modelled on libsinsp's ``evt.args``.

``event_text`` gives ``<dir> <name> <param>=<value> ...`` where each value is printed the way
libsinsp's ``sinsp_evt::get_param_as_str`` prints it, followed by ``(resolved)`` when libsinsp
would add a resolved form that needs no process state: errno names (``res=-2(ENOENT)``), flag
names (``flags=1(O_RDONLY)``), enum names, mode bits, signal names, ``AT_FDCWD`` and errno
names for negative fds, relative times in seconds (``1000000000(1s)``).

Numbers follow the print format like libsinsp's printf patterns: PF_DEC as C's ``%d`` of the
value (so a u32/u64 with the top bit set prints negative, as it does there), PF_HEX as ``%X``
(upper case, no ``0x``), PF_OCT as ``%#o`` (leading 0), PF_10_PADDED_DEC as ``%09d``; PF_ID,
PF_DIR and PF_NA print decimal. Socket addresses print as ``ip:port``, tuples as
``sip:sport->dip:dport`` (IPv4-mapped IPv6 tuples as IPv4), unix tuples as
``srcptr->dstptr path`` in hex, string arrays joined with ``.``, string pairs as ``k:v,k:v``.

Deviations, because there is no inspector state here or on purpose:
- an absent (empty) parameter prints ``<NA>`` (libsinsp prints ``NULL``);
- fds, pids, uids/gids, paths and syscall ids are not resolved against threads, users or the
  cwd: they print as values (uid/gid 0xffffffff still print ``-1(<NONE>)``);
- fd lists print every ``fd:?flags`` entry (libsinsp needs thread state and else prints
  nothing; ``?`` is its type char for an unknown fd);
- absolute times print in UTC (``2024-01-02 03:04:05.000000006 +0000``), not local time;
- byte buffers print as libsinsp's default (non-printable bytes as ``.``) without the output
  length limit; strings stop at their first NUL, and undecodable bytes print as U+FFFD;
- path sanitizing drops control characters only.
"""

from __future__ import annotations

import datetime as _dt
import errno as _errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._generated import DYNAMIC_TABLES, FLAG_TABLES
from .net import (
    SockAddrOther,
    SockAddrUnix,
    SockAddrV4,
    SockAddrV6,
    SockTupleOther,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
)
from .params import INT_SIZES
from .spec import ParamSpec
from .values import DynParam, SyscallId, c_octal, flag_names, mode_names, signal_name

if TYPE_CHECKING:
    from .typed import Event

__all__ = ["event_json", "event_text", "json_value", "param_text"]

NA = "<NA>"
_AT_FDCWD = -100
_U32_MAX = 0xFFFFFFFF
_U64_MAX = (1 << 64) - 1
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_PRINTABLE = bytes(range(0x20, 0x7F))
_DOTS = bytes(c if c in _PRINTABLE else ord(".") for c in range(256))
_CONTROL = {c: None for c in (*range(0x20), 0x7F)}


def _c_number(ptype: str, fmt: str, value: int) -> str:
    """Print an integer the way libsinsp's printf patterns do (C promotion rules)."""
    bits = 64 if INT_SIZES.get(ptype, 4) == 8 else 32
    raw = int(value) & ((1 << bits) - 1)
    if fmt == "PF_HEX":
        return f"{raw:X}"
    if fmt == "PF_OCT":
        return c_octal(raw)
    signed = raw - (1 << bits) if raw >> (bits - 1) else raw
    if fmt == "PF_10_PADDED_DEC":
        return f"{signed:09d}"
    return str(signed)


def _errno_name(value: int) -> str:
    return _errno.errorcode.get(-value, "") if value < 0 else ""


def _string(value: str) -> str:
    text = value.split("\0", 1)[0]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _abstime(value: int) -> str:
    secs, nanos = divmod(int(value), 1_000_000_000)
    stamp = _EPOCH + _dt.timedelta(seconds=secs)
    return f"{stamp:%Y-%m-%d %H:%M:%S}.{nanos:09d} +0000"


def _with(value: str, resolved: str) -> str:
    return f"{value}({resolved})" if resolved else value


def _table(spec: ParamSpec) -> tuple[tuple[str, int], ...]:
    return FLAG_TABLES.get(spec.flags_table or "", ())


def _fmt_fd(spec: ParamSpec, value: Any) -> str:
    fd = int(value)
    resolved = "AT_FDCWD" if fd == _AT_FDCWD else _errno_name(fd)
    return _with(str(fd), resolved)


def _fmt_errno(spec: ParamSpec, value: Any) -> str:
    return _with(str(int(value)), _errno_name(int(value)))


def _fmt_flags(spec: ParamSpec, value: Any) -> str:
    return _with(str(int(value)), "|".join(flag_names(int(value), _table(spec))))


def _fmt_enum(spec: ParamSpec, value: Any) -> str:
    names = [name for name, v in _table(spec) if v == int(value)]
    return _with(str(int(value)), "|".join(names))


def _fmt_mode(spec: ParamSpec, value: Any) -> str:
    text = _c_number("PT_UINT32", spec.format, int(value))
    return _with(text, "|".join(mode_names(int(value), _table(spec))))


def _fmt_ugid(spec: ParamSpec, value: Any) -> str:
    return "-1(<NONE>)" if int(value) == _U32_MAX else str(int(value))


def _fmt_signal(spec: ParamSpec, value: Any) -> str:
    return _with(str(int(value)), signal_name(int(value)) or "")


def _fmt_sigset(spec: ParamSpec, value: Any) -> str:
    bits = int(value)
    names = (signal_name(bit + 1) for bit in range(32) if bits >> bit & 1)
    return " ".join(n for n in names if n)


def _fmt_reltime(spec: ParamSpec, value: Any) -> str:
    if int(value) == _U64_MAX:
        return "none"
    return f"{int(value)}({int(value) / 1e9:g}s)"


def _fmt_bytes(spec: ParamSpec, value: Any) -> str:
    return bytes(value).translate(_DOTS).decode("ascii")


def _fmt_path(spec: ParamSpec, value: Any) -> str:
    return _string(str(value)).translate(_CONTROL)


def _fmt_sock(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, (SockAddrUnix, SockTupleUnix)):
        return _string(str(value)).translate(_CONTROL)
    return str(value)


def _fmt_fdlist(spec: ParamSpec, value: Any) -> str:
    return " ".join(f"{int(fd) & _U64_MAX}:?{int(flags):x}" for fd, flags in value)


def _fmt_dyn(spec: ParamSpec, value: Any) -> str:
    index, inner = value
    entries = DYNAMIC_TABLES.get(spec.dynamic_table or "", ())
    if not 0 <= index < len(entries):
        return NA
    inner_spec = ParamSpec(spec.name, spec.attr, entries[index][0], spec.format)
    return param_text(inner_spec, inner)


_FORMATTERS: dict[str, Callable[[ParamSpec, Any], str]] = {
    "PT_FD": _fmt_fd,
    "PT_FD32": _fmt_fd,
    "PT_ERRNO": _fmt_errno,
    "PT_FLAGS8": _fmt_flags,
    "PT_FLAGS16": _fmt_flags,
    "PT_FLAGS32": _fmt_flags,
    "PT_ENUMFLAGS8": _fmt_enum,
    "PT_ENUMFLAGS16": _fmt_enum,
    "PT_ENUMFLAGS32": _fmt_enum,
    "PT_MODE": _fmt_mode,
    "PT_UID": _fmt_ugid,
    "PT_GID": _fmt_ugid,
    "PT_SIGTYPE": _fmt_signal,
    "PT_SIGSET": _fmt_sigset,
    "PT_RELTIME": _fmt_reltime,
    "PT_ABSTIME": lambda spec, value: _abstime(value),
    "PT_PID": lambda spec, value: str(int(value)),
    "PT_PID32": lambda spec, value: str(int(value)),
    "PT_SYSCALLID": lambda spec, value: _with(str(int(value)), SyscallId(value).name or ""),
    "PT_CHARBUF": lambda spec, value: _string(str(value)),
    "PT_FSPATH": _fmt_path,
    "PT_FSRELPATH": _fmt_path,
    "PT_BYTEBUF": _fmt_bytes,
    "PT_NONE": _fmt_bytes,
    "PT_SOCKADDR": _fmt_sock,
    "PT_SOCKTUPLE": _fmt_sock,
    "PT_FDLIST": _fmt_fdlist,
    "PT_DYN": _fmt_dyn,
    "PT_CHARBUFARRAY": lambda spec, value: ".".join(_string(s) for s in value),
    "PT_CHARBUF_PAIR_ARRAY": lambda spec, value: ",".join(
        f"{_string(k)}:{_string(v)}" for k, v in value
    ),
    "PT_DOUBLE": lambda spec, value: f"{float(value):g}",
}


def param_text(spec: ParamSpec, value: Any) -> str:
    """The text of one parameter value (without the ``name=``); None prints ``<NA>``."""
    if value is None:
        return NA
    fmt = _FORMATTERS.get(spec.type)
    if fmt is not None:
        return fmt(spec, value)
    if spec.type in INT_SIZES:
        return _c_number(spec.type, spec.format, int(value))
    return str(value)  # IP addresses and networks


def event_text(event: Event) -> str:
    """``<dir> <name> name=value ...`` for the parameters the event carries."""
    params = event.params
    parts = [params.DIRECTION, event.name or params.NAME]
    for spec in params.PARAMS[: event.nparams]:
        parts.append(f"{spec.name}={param_text(spec, getattr(params, spec.attr))}")
    return " ".join(parts)


def _json_text(value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


def json_value(value: Any) -> Any:
    """A JSON-able form of a decoded value: ints stay ints, bytes become (escaped) text."""
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (str, bytes)):
        return _json_text(value)
    if isinstance(value, DynParam):
        return {"index": value.index, "value": json_value(value.value)}
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    if isinstance(value, (SockAddrV4, SockAddrV6)):
        family = "inet" if isinstance(value, SockAddrV4) else "inet6"
        return {"family": family, "addr": str(value.addr), "port": value.port}
    if isinstance(value, (SockTupleV4, SockTupleV6)):
        family = "inet" if isinstance(value, SockTupleV4) else "inet6"
        return {
            "family": family,
            "sip": str(value.sip),
            "sport": value.sport,
            "dip": str(value.dip),
            "dport": value.dport,
        }
    if isinstance(value, SockAddrUnix):
        return {"family": "unix", "path": _json_text(value.path)}
    if isinstance(value, SockTupleUnix):
        return {
            "family": "unix",
            "source_ptr": value.source_ptr,
            "dest_ptr": value.dest_ptr,
            "path": _json_text(value.path),
        }
    if isinstance(value, (SockAddrOther, SockTupleOther)):
        return {"family": value.family, "data": _json_text(value.data)}
    return str(value)  # IP addresses and networks


def event_json(event: Event) -> dict[str, Any]:
    """``{"ts", "tid", "type", "id", "name", "direction", "params": {name: value}}``."""
    params = event.params
    return {
        "ts": event.ts,
        "tid": event.tid,
        "type": params.CODE,
        "id": params.ID,
        "name": event.name,
        "direction": params.DIRECTION,
        "params": {
            spec.name: json_value(getattr(params, spec.attr))
            for spec in params.PARAMS[: event.nparams]
        },
    }
