"""Older event layouts brought to the current schema, the way libscap's savefile reader does it.

Captures keep the events as the driver of their day wrote them. When libscap reads a capture
it passes every event through its converter (``engine/savefile/converter``), and libsinsp (so
Falco and sinsp-example) only ever sees the result:

- types flagged ``EF_UNUSED`` are dropped; old enter types the converter does not manage too;
- enter events of managed types are stored per thread (and dropped, or passed on where the
  table says so): the matching exit event takes parameters from them;
- exit events of an old version, or with fewer parameters than the schema, get the missing
  parameters (from the stored enter event, empty, or the type's default value) or become the
  current type, following libscap's table (:mod:`._conversions`, generated from it);
- everything else passes unchanged.

:class:`Converter` does exactly this, one event at a time, on the raw bytes. Anything libscap
would refuse (no table entry for an event that needs one, an enter event of the wrong type in
store, more parameters than the schema) raises :class:`ConversionError`.
"""

from __future__ import annotations

import struct

from ._conversions import CONVERSIONS, Conversion
from ._generated import EVENT_TABLE
from .raw import HEADER_LEN, EventFormatError

__all__ = ["ConversionError", "Converter", "MAX_CONVERTED_LEN", "convertibility"]

#: libscap converts events of at most this many bytes (MAX_EVENT_SIZE of the savefile engine).
MAX_CONVERTED_LEN = 64 * 1024
#: libscap stops after this many conversions of one event (MAX_CONVERSION_BOUNDARY).
MAX_CONVERSIONS = 50

_HEADER = struct.Struct("<QqIHI")
_CODES = {row[1]: row[0] for row in EVENT_TABLE}
_FLAGS = tuple(frozenset(row[5]) for row in EVENT_TABLE)
_LARGE = tuple(bool(row[6]) for row in EVENT_TABLE)
_PARAM_TYPES = tuple(tuple(p[2] for p in row[7]) for row in EVENT_TABLE)
_TABLE: dict[tuple[int, int], Conversion] = {
    (_CODES[event_id], nparams): conv for (event_id, nparams), conv in CONVERSIONS.items()
}

#: Wire size of the value libscap pushes as a parameter's default (0 for variable sizes).
_DEFAULT_SIZES = {
    **dict.fromkeys(("PT_INT8", "PT_UINT8", "PT_FLAGS8", "PT_ENUMFLAGS8", "PT_SIGTYPE"), 1),
    **dict.fromkeys(
        ("PT_INT16", "PT_UINT16", "PT_FLAGS16", "PT_ENUMFLAGS16", "PT_SYSCALLID", "PT_PORT"), 2
    ),
    **dict.fromkeys(
        (
            "PT_INT32",
            "PT_UINT32",
            "PT_FLAGS32",
            "PT_ENUMFLAGS32",
            "PT_UID",
            "PT_GID",
            "PT_MODE",
            "PT_SIGSET",
            "PT_FD32",
            "PT_PID32",
            "PT_IPV4ADDR",
        ),
        4,
    ),
    **dict.fromkeys(
        ("PT_INT64", "PT_UINT64", "PT_RELTIME", "PT_ABSTIME", "PT_ERRNO", "PT_FD", "PT_PID"), 8
    ),
    "PT_IPV6ADDR": 16,
    **dict.fromkeys(
        (
            "PT_BYTEBUF",
            "PT_CHARBUF",
            "PT_SOCKTUPLE",
            "PT_FDLIST",
            "PT_FSPATH",
            "PT_CHARBUFARRAY",
            "PT_CHARBUF_PAIR_ARRAY",
            "PT_FSRELPATH",
            "PT_DYN",
            "PT_SOCKADDR",
        ),
        0,
    ),
}

PASS, DROP, CONTINUE = "pass", "drop", "continue"


class ConversionError(EventFormatError):
    """An event libscap's converter refuses (libsinsp stops reading the capture there)."""


def _name(code: int) -> str:
    return str(EVENT_TABLE[code][1])


def convertibility(event_type: int, nparams: int) -> str:
    """What libscap does with an event: ``"pass"``, ``"drop"`` or ``"continue"`` (convert it)."""
    flags = _FLAGS[event_type]
    if "EF_UNUSED" in flags:
        return DROP
    if "EF_CONVERTER_MANAGED" not in flags:
        if "EF_OLD_VERSION" not in flags:
            return PASS
        if event_type % 2 == 0:
            return DROP
        raise ConversionError(f"{_name(event_type)}: an old exit type the converter does not know")
    if event_type % 2 == 0:
        return CONTINUE
    expected = len(_PARAM_TYPES[event_type])
    if nparams > expected:
        raise ConversionError(
            f"{_name(event_type)} with {nparams} parameters; the schema has {expected}"
        )
    if "EF_OLD_VERSION" in flags or nparams != expected:
        return CONTINUE
    return PASS


class _Parsed:
    """An event split into its header fields and parameter values (bytes)."""

    __slots__ = ("ts", "tid", "type", "params")

    def __init__(self, ts: int, tid: int, event_type: int, params: list[bytes]) -> None:
        self.ts = ts
        self.tid = tid
        self.type = event_type
        self.params = params

    @classmethod
    def parse(cls, data: bytes) -> _Parsed:
        ts, tid, length, etype, nparams = _HEADER.unpack_from(data)
        size = 4 if _LARGE[etype] else 2
        lengths = struct.unpack_from(f"<{nparams}{'I' if size == 4 else 'H'}", data, HEADER_LEN)
        pos = HEADER_LEN + nparams * size
        params = []
        for n in lengths:
            params.append(data[pos : pos + n])
            pos += n
        return cls(ts, tid, etype, params)

    def encode(self) -> bytes:
        large = _LARGE[self.type]
        count = len(self.params)
        lengths = struct.pack(f"<{count}{'I' if large else 'H'}", *map(len, self.params))
        total = HEADER_LEN + len(lengths) + sum(map(len, self.params))
        header = _HEADER.pack(self.ts, self.tid, total, self.type, count)
        return b"".join((header, lengths, *self.params))


class Converter:
    """libscap's conversion of one capture's events; it keeps the enter events it stored.

    ``convert(event)`` takes the bytes of one event (current 26-byte header) and returns the
    bytes libsinsp would get, or ``None`` when libscap drops the event. Use one converter per
    capture section, in file order: exit events take parameters from earlier enter events of
    the same thread.
    """

    def __init__(self) -> None:
        self._stored: dict[int, _Parsed] = {}
        self.converted = 0
        self.dropped = 0

    def convert(self, event: bytes) -> bytes | None:
        """The event as libsinsp gets it from libscap, or None when libscap drops it."""
        etype, nparams = _HEADER.unpack_from(event)[3:5]
        verdict = convertibility(etype, nparams)
        if verdict == PASS:
            return event
        if verdict == DROP:
            self.dropped += 1
            return None
        current = event
        for _ in range(MAX_CONVERSIONS):
            if len(current) > MAX_CONVERTED_LEN:
                raise ConversionError(
                    f"{_name(etype)} event of {len(current)} bytes: libscap converts events "
                    f"of at most {MAX_CONVERTED_LEN} bytes"
                )
            parsed, verdict = self._convert_once(_Parsed.parse(current))
            current = parsed.encode()
            if len(current) > MAX_CONVERTED_LEN:
                raise ConversionError(
                    f"{_name(parsed.type)}: the converted event would exceed "
                    f"{MAX_CONVERTED_LEN} bytes"
                )
            if verdict == PASS:
                self.converted += 1
                return current
            if verdict == DROP:
                self.dropped += 1
                return None
            etype = parsed.type
        raise ConversionError(f"{_name(etype)}: no end after {MAX_CONVERSIONS} conversions")

    def _convert_once(self, old: _Parsed) -> tuple[_Parsed, str]:
        key = (old.type, len(old.params) & 0xFF)  # libscap's table key has a u8 count
        conv = _TABLE.get(key)
        if conv is None:
            raise ConversionError(
                f"{_name(old.type)} with {len(old.params)} parameters needs a conversion "
                "that libscap's table does not have"
            )
        action, new_type_id, instrs = conv
        if action in ("store", "store_and_pass"):
            self._stored[old.tid] = old
            return old, DROP if action == "store" else PASS
        if action == "pass":
            return old, PASS
        if action == "change_type":
            assert new_type_id is not None
            new = _Parsed(old.ts, old.tid, _CODES[new_type_id], [])
        else:
            new = _Parsed(old.ts, old.tid, old.type, list(old.params))
        used_enter = False
        for source, index, fallback_empty, callback in instrs:
            slot = len(new.params)
            value: bytes | None = None
            if source == "empty":
                value = b""
            elif source == "default":
                value = _default(new.type, slot)
            elif source == "callback":
                value = _callback(callback, old)
                if value is None:
                    value = b"" if fallback_empty else _default(new.type, slot)
            else:
                donor = old if source == "old" else self._stored.get(old.tid)
                if donor is None:
                    value = b"" if fallback_empty else _default(new.type, slot)
                else:
                    if source == "enter":
                        if donor.type != old.type - 1:
                            raise ConversionError(
                                f"the stored enter event for {_name(old.type)} is a "
                                f"{_name(donor.type)}"
                            )
                        used_enter = True
                    if index >= len(donor.params):
                        raise ConversionError(
                            f"{_name(donor.type)} has {len(donor.params)} parameters, "
                            f"parameter {index} is needed"
                        )
                    value = donor.params[index][: _max_len(new.type, slot)]
            new.params.append(value)
        if used_enter:
            self._stored.pop(old.tid, None)
        return new, convertibility(new.type, len(new.params))


def _param_type(event_type: int, index: int) -> str:
    types = _PARAM_TYPES[event_type]
    if index >= len(types):
        raise ConversionError(f"{_name(event_type)} has no parameter {index}")
    return types[index]


def _default(event_type: int, index: int) -> bytes:
    ptype = _param_type(event_type, index)
    size = _DEFAULT_SIZES.get(ptype)
    if size is None:
        raise ConversionError(f"libscap has no default value for {ptype}")
    value = 0xFFFFFFFF if ptype in ("PT_UID", "PT_GID") else 0
    return value.to_bytes(size, "little")


def _max_len(event_type: int, index: int) -> int:
    """libscap cuts a copied parameter to what the new parameter's type can hold."""
    ptype = _param_type(event_type, index)
    size = _DEFAULT_SIZES.get(ptype)
    if size is None:
        raise ConversionError(f"libscap has no size limit for {ptype}")
    if size:
        return size
    return 0xFFFFFFFF if _LARGE[event_type] else 0xFFFF


def _callback(name: str | None, old: _Parsed) -> bytes | None:
    if name == "container_json":
        return _container_json(old)
    raise ConversionError(f"unknown conversion callback {name!r}")


def _container_json(old: _Parsed) -> bytes | None:
    """An old container event (id, type, name, image) as the JSON of its successor.

    libscap pastes the strings in unescaped; None (fall back) where it gives up: a missing or
    empty string parameter, or a type that is not 4 bytes.
    """
    if len(old.params) < 4:
        return None
    cid, kind, name, image = old.params[:4]
    if not (cid and name and image) or len(kind) != 4:
        return None
    number = str(int.from_bytes(kind, "little")).encode()
    parts = (b'{"id":"', cid[:-1], b'","type":', number, b',"name":"', name[:-1])
    return b"".join((*parts, b'","image":"', image[:-1], b'"}\0'))
