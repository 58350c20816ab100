"""Per-type codecs of event parameters, and the value types they produce.

A codec turns the bytes of one parameter into a Python value and back, byte for byte. Decoders
take ``(buf, start, end)`` over a ``bytes`` object and check the size against the data: any
inconsistency is an :class:`EventFormatError`. Absent (zero-length) parameters never reach a
codec; the event layer maps them to ``None``.

IP networks (PT_IPV4NET, PT_IPV6NET, PT_IPNET) carry only an address on the wire, as libscap
stores them: they decode to a host network (``/32`` or ``/128``), and encoding accepts such a
network or a bare address; a shorter prefix cannot be represented and is a ValueError.
"""

from __future__ import annotations

import struct

from .._lean_typing import TYPE_CHECKING
from .framing import EventFormatError
from .net import (
    SockAddr,
    SockAddrOther,
    SockAddrUnix,
    SockAddrV4,
    SockAddrV6,
    SockTuple,
    SockTupleOther,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
)
from .values import (
    AbsTime,
    DynParam,
    EnumFlags,
    Errno,
    Fd,
    Flags,
    Mode,
    Pid,
    RelPath,
    RelTime,
    Signal,
    SigSet,
    SyscallId,
    table_type,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NamedTuple

    Decoder = Callable[[bytes, int, int], Any]
    Encoder = Callable[[Any], bytes]
else:
    from .._lean_typing import NamedTuple

__all__ = [
    "AbsTime",
    "Codec",
    "DynParam",
    "EnumFlags",
    "Errno",
    "EventFormatError",
    "Fd",
    "Flags",
    "Mode",
    "Pid",
    "RelPath",
    "RelTime",
    "SigSet",
    "Signal",
    "SockAddr",
    "SockAddrOther",
    "SockAddrUnix",
    "SockAddrV4",
    "SockAddrV6",
    "SockTuple",
    "SockTupleOther",
    "SockTupleUnix",
    "SockTupleV4",
    "SockTupleV6",
    "codec",
]


#: How a plugin library's C decoder reads a parameter (``Codec.native``): through the codec's
#: Python ``decode``, as an unsigned or signed little-endian int of ``size`` bytes (then
#: wrapped in ``Codec.wrap``), as a NUL-terminated UTF-8 string, as bytes, as a double, as
#: a socket address, a socket tuple, an IPv4, IPv6 or either address (the decoders below
#: say what each gives, errors included; the C decoder must say the same).
(NATIVE_PY, NATIVE_UINT, NATIVE_SINT, NATIVE_CSTR, NATIVE_BYTES, NATIVE_DOUBLE, NATIVE_SOCKADDR,
 NATIVE_SOCKTUPLE, NATIVE_IPV4, NATIVE_IPV6, NATIVE_IP) = range(11)  # fmt: skip


class Codec(NamedTuple):
    """How one parameter type is read and written; ``size`` is the fixed size, if any;
    ``wrap`` the int subclass an integer is made into (Fd, Errno, a flags table's type);
    ``native`` how the C decoder of a plugin library reads it (``NATIVE_*``)."""

    decode: Decoder
    encode: Encoder
    size: int | None
    wrap: Any = None
    native: int = NATIVE_PY


def _bad_size(what: str, expected: int | str, got: int) -> EventFormatError:
    return EventFormatError(f"{what} parameter of {got} bytes, expected {expected}")


# --- integers --------------------------------------------------------------------------------

#: struct code of every integer-like type (the width is the wire size).
_INT_CODES = {
    "PT_INT8": "b",
    "PT_INT16": "h",
    "PT_INT32": "i",
    "PT_INT64": "q",
    "PT_UINT8": "B",
    "PT_UINT16": "H",
    "PT_UINT32": "I",
    "PT_UINT64": "Q",
    "PT_SYSCALLID": "H",
    "PT_PORT": "H",
    "PT_L4PROTO": "B",
    "PT_SOCKFAMILY": "B",
    "PT_BOOL": "I",
    "PT_FLAGS8": "B",
    "PT_FLAGS16": "H",
    "PT_FLAGS32": "I",
    "PT_ENUMFLAGS8": "B",
    "PT_ENUMFLAGS16": "H",
    "PT_ENUMFLAGS32": "I",
    "PT_UID": "I",
    "PT_GID": "I",
    "PT_SIGTYPE": "B",
    "PT_MODE": "I",
    "PT_SIGSET": "I",
    "PT_ERRNO": "q",
    "PT_FD": "q",
    "PT_PID": "q",
    "PT_FD32": "i",
    "PT_PID32": "i",
    "PT_RELTIME": "Q",
    "PT_ABSTIME": "Q",
}

#: Value type wrapping the raw int, for the types that have one.
_INT_WRAPPERS: dict[str, type[int]] = {
    "PT_ERRNO": Errno,
    "PT_FD": Fd,
    "PT_FD32": Fd,
    "PT_PID": Pid,
    "PT_PID32": Pid,
    "PT_SIGTYPE": Signal,
    "PT_SIGSET": SigSet,
    "PT_SYSCALLID": SyscallId,
    "PT_RELTIME": RelTime,
    "PT_ABSTIME": AbsTime,
    "PT_MODE": Mode,
    "PT_FLAGS8": Flags,
    "PT_FLAGS16": Flags,
    "PT_FLAGS32": Flags,
    "PT_ENUMFLAGS8": EnumFlags,
    "PT_ENUMFLAGS16": EnumFlags,
    "PT_ENUMFLAGS32": EnumFlags,
}

#: Bytes per value of each integer type (used by the text form for C-like printing).
INT_SIZES = {name: struct.calcsize(code) for name, code in _INT_CODES.items()}
#: Integer types whose raw value is signed.
SIGNED_INTS = frozenset(name for name, code in _INT_CODES.items() if code.islower())


def _int_codec(ptype: str, code: str, wrap: Callable[[int], Any] | None) -> Codec:
    st = struct.Struct("<" + code)
    size = st.size
    unpack = st.unpack_from
    pack = st.pack

    if wrap is None:

        def decode(buf: bytes, start: int, end: int) -> Any:
            if end - start != size:
                raise _bad_size(ptype, size, end - start)
            return unpack(buf, start)[0]

    else:
        wrapper = wrap

        def decode(buf: bytes, start: int, end: int) -> Any:
            if end - start != size:
                raise _bad_size(ptype, size, end - start)
            return wrapper(unpack(buf, start)[0])

    def encode(value: Any) -> bytes:
        return pack(value)

    return Codec(decode, encode, size, wrap, NATIVE_SINT if code.islower() else NATIVE_UINT)


def _dec_double(buf: bytes, start: int, end: int) -> float:
    if end - start != 8:
        raise _bad_size("PT_DOUBLE", 8, end - start)
    return float(_F64.unpack_from(buf, start)[0])


_F64 = struct.Struct("<d")
_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")
_FD_ENTRY = struct.Struct("<qH")


# --- strings and buffers ---------------------------------------------------------------------


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _raw(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


def _cstr(buf: bytes, start: int, end: int, what: str = "string") -> str:
    if end <= start or buf[end - 1] != 0:
        raise EventFormatError(f"{what} parameter without its NUL terminator")
    return _text(buf[start : end - 1])


def _dec_cstr(buf: bytes, start: int, end: int) -> str:
    return _cstr(buf, start, end)


def _enc_cstr(value: Any) -> bytes:
    return _raw(value) + b"\0"


def _dec_bytes(buf: bytes, start: int, end: int) -> bytes:
    return buf[start:end]


def _dec_strings(buf: bytes, start: int, end: int) -> tuple[str, ...]:
    if end <= start or buf[end - 1] != 0:
        raise EventFormatError("string array parameter without its NUL terminator")
    return tuple(_text(part) for part in buf[start : end - 1].split(b"\0"))


def _enc_strings(value: Any) -> bytes:
    if isinstance(value, (str, bytes)):
        raise TypeError("a string array is a sequence of strings")
    items = [_raw(v) for v in value]
    return b"\0".join(items) + b"\0" if items else b""


def _dec_pairs(buf: bytes, start: int, end: int) -> tuple[tuple[str, str], ...]:
    items = _dec_strings(buf, start, end)
    if len(items) % 2:
        raise EventFormatError("string pair array with an odd number of strings")
    return tuple(zip(items[::2], items[1::2], strict=True))


def _enc_pairs(value: Any) -> bytes:
    flat: list[Any] = []
    for key, val in value:
        flat.extend((key, val))
    return _enc_strings(flat)


def _dec_fdlist(buf: bytes, start: int, end: int) -> tuple[tuple[int, int], ...]:
    if end - start < 2:
        raise _bad_size("PT_FDLIST", "at least 2", end - start)
    count = _U16.unpack_from(buf, start)[0]
    if end - start != 2 + count * _FD_ENTRY.size:
        raise _bad_size("PT_FDLIST", 2 + count * _FD_ENTRY.size, end - start)
    return tuple(_FD_ENTRY.iter_unpack(buf[start + 2 : end]))


def _enc_fdlist(value: Any) -> bytes:
    entries = list(value)
    return _U16.pack(len(entries)) + b"".join(_FD_ENTRY.pack(fd, fl) for fd, fl in entries)


# --- registry --------------------------------------------------------------------------------

_SIMPLE: dict[str, Codec] = {
    "PT_CHARBUF": Codec(_dec_cstr, _enc_cstr, None, native=NATIVE_CSTR),
    "PT_FSPATH": Codec(_dec_cstr, _enc_cstr, None, native=NATIVE_CSTR),
    "PT_FSRELPATH": Codec(_dec_cstr, _enc_cstr, None, native=NATIVE_CSTR),
    "PT_BYTEBUF": Codec(_dec_bytes, _raw, None, native=NATIVE_BYTES),
    "PT_NONE": Codec(_dec_bytes, _raw, None, native=NATIVE_BYTES),
    "PT_CHARBUFARRAY": Codec(_dec_strings, _enc_strings, None),
    "PT_CHARBUF_PAIR_ARRAY": Codec(_dec_pairs, _enc_pairs, None),
    "PT_DOUBLE": Codec(_dec_double, _F64.pack, 8, native=NATIVE_DOUBLE),
    "PT_FDLIST": Codec(_dec_fdlist, _enc_fdlist, None),
}
#: The address types: their codecs (:mod:`._address_codecs`) import ipaddress, on first use.
_ADDRESS_TYPES = frozenset(
    {"PT_SOCKADDR", "PT_SOCKTUPLE", "PT_IPV4ADDR", "PT_IPV6ADDR", "PT_IPADDR", "PT_IPV4NET",
     "PT_IPV6NET", "PT_IPNET"}
)  # fmt: skip
_CACHE: dict[tuple[str, str | None, str | None], Codec] = {}

FlagTables = dict[str, tuple[tuple[str, int], ...]]
DynTables = dict[str, tuple[tuple[str, str], ...]]


def codec(
    ptype: str,
    flags_table: str | None = None,
    dynamic_table: str | None = None,
    flag_tables: FlagTables | None = None,
    dynamic_tables: DynTables | None = None,
) -> Codec:
    """The codec of a parameter type; a flags table picks the Flags/EnumFlags/Mode subclass."""
    key = (ptype, flags_table, dynamic_table)
    found = _CACHE.get(key)
    if found is not None:
        return found
    if ptype in _SIMPLE:
        made = _SIMPLE[ptype]
    elif ptype in _ADDRESS_TYPES:
        from ._address_codecs import ADDRESS_CODECS

        made = ADDRESS_CODECS[ptype]
    elif ptype == "PT_DYN":
        made = _dyn_codec(dynamic_table, flag_tables or {}, dynamic_tables or {})
    elif ptype in _INT_CODES:
        wrap: Callable[[int], Any] | None = _INT_WRAPPERS.get(ptype)
        if flags_table is not None and wrap in (Flags, EnumFlags, Mode):
            entries = (flag_tables or {}).get(flags_table, ())
            wrap = table_type(wrap, flags_table, entries)
        made = _int_codec(ptype, _INT_CODES[ptype], wrap)
    else:
        raise ValueError(f"unknown parameter type {ptype!r}")
    _CACHE[key] = made
    return made


def _dyn_codec(table: str | None, flag_tables: FlagTables, dynamic_tables: DynTables) -> Codec:
    if table is None or table not in dynamic_tables:
        raise ValueError(f"PT_DYN parameter without a known dynamic table ({table!r})")
    entries = tuple(
        codec(t, None, None, flag_tables, dynamic_tables) for t, _ in dynamic_tables[table]
    )

    def decode(buf: bytes, start: int, end: int) -> DynParam:
        index = buf[start]
        if index >= len(entries):
            raise EventFormatError(f"dynamic parameter index {index} outside {table}")
        return DynParam(index, entries[index].decode(buf, start + 1, end))

    def encode(value: Any) -> bytes:
        index, inner = value
        return bytes((index,)) + entries[index].encode(inner)

    return Codec(decode, encode, None)
