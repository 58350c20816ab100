"""Typed events: a header (ts, tid) plus the params object of the event's type.

``decode`` turns bytes (or a RawEvent) into an :class:`Event`; ``Event.encode`` writes the
exact bytes back. Events with fewer parameters than the schema (older captures) keep their
count: the missing ones read as None and are not written back.
"""

from __future__ import annotations

from .._lean_typing import TYPE_CHECKING
from ._generated import EVENT_CLASSES
from .framing import TS_NOW, EventFormatError
from .raw import HEADER_LEN, NATIVE, Buffer, RawEvent, _lengths_struct
from .spec import EventParams

if TYPE_CHECKING:
    import struct
    from typing import Any

    from .values import RelPath

_GENERIC_CODES = (0, 1)  # PPME_GENERIC_E / PPME_GENERIC_X
_ASYNC_CODE = 402  # PPME_ASYNCEVENT_E

__all__ = ["Event", "decode", "event_class", "EVENT_CLASSES"]

#: struct and the header's layout, made at the first encode (see raw._header_unpacker).
_struct: Any = None
_HEADER: struct.Struct | None = None
_U64 = 1 << 64
_MAX_LEN = (1 << 32) - 1
_INDEX: dict[tuple[str, str | None], int | None] = {}
#: The params classes made so far, by code (None: not yet; EVENT_CLASSES makes it).
_MADE = EVENT_CLASSES.made


def _header() -> struct.Struct:
    global _struct, _HEADER
    import struct

    _struct = struct
    _HEADER = struct.Struct("<QqIHI")
    return _HEADER


def _index() -> dict[tuple[str, str | None], int | None]:
    """Lookup keys -> event code: ids, class names, and (event name, direction or None).

    An event name maps to its current version (not EF_OLD_VERSION/EF_UNUSED, highest code);
    the key without a direction maps to None when both directions exist.
    """
    if _INDEX:
        return _INDEX
    from ._generated import CLASS_NAMES, EVENT_TABLE

    index: dict[tuple[str, str | None], int | None] = {}
    ranked: dict[tuple[str, str | None], list[tuple[bool, int]]] = {}
    for row, cls_name in zip(EVENT_TABLE, CLASS_NAMES, strict=True):
        code, event_id, name, direction, _cat, flags = row[:6]
        index[(event_id, "id")] = code
        index[(cls_name, "id")] = code
        current = not {"EF_OLD_VERSION", "EF_UNUSED"} & set(flags)
        keys: tuple[tuple[str, str | None], ...] = ((name, direction), (name, None))
        for key in keys:
            ranked.setdefault(key, []).append((current, code))
    for key, found in ranked.items():
        best = max(found)[1]
        if key[1] is None:
            pool = [code for current, code in found if current == max(found)[0]]
            if len({EVENT_TABLE[code][3] for code in pool}) > 1:
                index[key] = None
                continue
        index[key] = best
    _INDEX.update(index)
    return _INDEX


def event_class(key: int | str, direction: str | None = None) -> type[EventParams]:
    """The params class for a code, an id (``PPME_...``), a class name, or an event name.

    An event name (``"open"``, or ``">open"``/``"<open"`` with the direction in front) gives
    the current version of that event; pass ``direction`` ('>' or '<') when both exist.
    """
    if isinstance(key, int):
        if 0 <= key < len(EVENT_CLASSES):
            return EVENT_CLASSES[key]
        raise KeyError(f"unknown event type {key}")
    index = _index()
    found = index.get((key, "id"))
    if found is not None:
        return EVENT_CLASSES[found]
    name = key
    if key[:1] in (">", "<"):
        direction, name = key[0], key[1:]
    found = index.get((name, direction))
    if found is None:
        if (name, direction) in index:
            raise KeyError(f"event {name!r} has enter and exit types: give a direction")
        raise KeyError(f"unknown event {key!r}")
    return EVENT_CLASSES[found]


class Event:
    """A typed event: ``ts``, ``tid`` and ``params`` (the params class of its type)."""

    __slots__ = ("ts", "tid", "params", "nparams")

    ts: int
    tid: int
    params: EventParams
    nparams: int

    def __init__(
        self,
        params: EventParams,
        ts: int | None = None,
        tid: int | None = None,
        nparams: int | None = None,
    ) -> None:
        if not isinstance(params, EventParams):
            raise TypeError(f"params must be an event params object, got {type(params).__name__}")
        self.params = params
        self.ts = TS_NOW if ts is None else ts
        self.tid = -1 if tid is None else (tid - _U64 if tid >= 1 << 63 else tid)
        total = len(params.PARAMS)
        if nparams is None:
            nparams = total
        elif not 0 <= nparams <= total:
            raise ValueError(f"{type(params).__name__} has {total} parameters, not {nparams}")
        self.nparams = nparams

    @property
    def type(self) -> int:
        """The event type code."""
        return self.params.CODE

    @property
    def name(self) -> str:
        """The event name (``open``), as libsinsp's ``evt.type`` shows it: a generic event
        (``syscall``, codes 0 and 1) is named by the syscall in its ID parameter
        (``mprotect``; ``""`` for a code libscap leaves unnamed, ``unknown`` for one beyond
        the schema's table), an async event (``asyncevent``) by its own name."""
        code = self.params.CODE
        if code in _GENERIC_CODES and self.nparams:
            sc = self.params.ID_
            if sc is not None:
                from ._generated import PPM_SC_NAMES

                return PPM_SC_NAMES[sc] if 0 <= sc < len(PPM_SC_NAMES) else "unknown"
        elif code == _ASYNC_CODE and self.nparams > 1 and self.params.name:
            return str(self.params.name)
        return self.params.NAME

    @property
    def direction(self) -> str:
        """``'>'`` for enter events, ``'<'`` for exit events."""
        return self.params.DIRECTION

    def encode(self) -> bytes:
        """The event's bytes: header, parameter lengths, parameter values."""
        layout = _HEADER or _header()  # struct too
        params = self.params
        cls = type(params)
        codecs = cls._CODECS
        parts = []
        for i, attr in enumerate(cls.__slots__[: self.nparams]):
            value = getattr(params, attr)
            if value is None:
                parts.append(b"")
                continue
            try:
                parts.append(codecs[i].encode(value))
            except (_struct.error, TypeError, ValueError, IndexError, AttributeError) as exc:
                raise ValueError(f"{cls.__name__}.{attr}: cannot encode {value!r}: {exc}") from exc
        lengths = [len(p) for p in parts]
        large = cls.LARGE
        if max(lengths, default=0) > (_MAX_LEN if large else 0xFFFF):
            raise ValueError(f"{cls.__name__}: a parameter is too long for this event type")
        total = HEADER_LEN + self.nparams * (4 if large else 2) + sum(lengths)
        if total > _MAX_LEN:
            raise ValueError(f"{cls.__name__}: event of {total} bytes is too long")
        try:
            header = layout.pack(self.ts, self.tid, total, cls.CODE, self.nparams)
        except _struct.error as exc:
            raise ValueError(f"bad event header (ts={self.ts!r}, tid={self.tid!r}): {exc}") from exc
        table = _lengths_struct(self.nparams, large).pack(*lengths)
        return b"".join((header, table, *parts))

    def to_text(self) -> str:
        """One line like Falco prints it: ``> open name=/etc/passwd flags=1(O_RDONLY) mode=0``."""
        from .text import event_text

        return event_text(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: ts, tid, type, name, direction and the params."""
        from .text import event_json

        return event_json(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (
            self.ts == other.ts
            and self.tid == other.tid
            and self.nparams == other.nparams
            and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        extra = "" if self.nparams == len(self.params.PARAMS) else f", nparams={self.nparams}"
        return f"Event(ts={self.ts}, tid={self.tid}, params={self.params!r}{extra})"


def decode(data: RawEvent | Buffer, offset: int = 0) -> Event:
    """Decode one event (bytes, a buffer and offset, or a RawEvent) into an :class:`Event`."""
    if NATIVE is not None and type(offset) is int:
        return NATIVE.decode(data, offset)
    return _decode_py(data, offset)


def _decode_py(data: RawEvent | Buffer, offset: int = 0) -> Event:
    """decode in Python: the reference of the C decoder, and its fallback."""
    raw = data if isinstance(data, RawEvent) else RawEvent.parse(data, offset)
    cls = _MADE[raw.type] or EVENT_CLASSES[raw.type]
    nparams = raw.nparams
    codecs = cls._CODECS
    if nparams > len(codecs):
        raise EventFormatError(
            f"{cls.ID} event with {nparams} parameters; the schema knows {len(codecs)}"
        )
    start = raw._off
    buf = raw._buf[start : start + raw.len].tobytes()
    pos = HEADER_LEN + nparams * (4 if cls.LARGE else 2)
    values = [
        codec.decode(buf, pos, (pos := pos + size)) if size else None
        for codec, size in zip(codecs, raw.lengths, strict=False)
    ]
    if nparams < len(codecs):
        values.extend([None] * (len(codecs) - nparams))
    for index, dirfd_index in cls._RELPATHS:
        path = values[index]
        if path is not None:
            values[index] = (_RelPath or _relpath_class())(path, values[dirfd_index])
    ev = Event.__new__(Event)
    ev.params = cls(*values)
    ev.ts = raw.ts
    ev.tid = raw.tid
    ev.nparams = nparams
    return ev


#: values.RelPath once asked for (values is imported with the first params class made, not
#: at a plugin's start).
_RelPath: type[RelPath] | None = None


def _relpath_class() -> type[RelPath]:
    global _RelPath
    from .values import RelPath

    _RelPath = RelPath
    return RelPath


def _native_plan(code: int) -> tuple[Any, ...]:
    """How the C decoder reads the parameters of event type ``code``: the params class, its
    id, whether its lengths are u32, per parameter (as the codec says) the native kind, the
    size, the int wrapper type, the Python decode and the type name, and the relative-path
    pairs.

    The C decoder asks for the plan of a type before it decodes its first event; the first
    plan gives it the classes :func:`_bind_native` left out at import (RelPath, and the
    value classes of socket addresses and IP addresses once a type has such a parameter),
    so that neither values nor ipaddress is imported at a plugin's start."""
    from .params import NATIVE_SOCKADDR  # this kind and those after it are value classes

    cls = EVENT_CLASSES[code]
    codecs = cls._CODECS
    needs = _WITH_VALUES if any(c.native >= NATIVE_SOCKADDR for c in codecs) else _WITH_RELPATH
    if _BOUND < needs:
        _bind_native(needs)
    return (
        cls,
        cls.ID,
        bool(cls.LARGE),
        bytes(c.native for c in codecs),
        bytes((c.size or 0) if c.native else 0 for c in codecs),
        tuple(c.wrap for c in codecs),
        tuple(c.decode for c in codecs),
        tuple(spec.type for spec in cls.PARAMS),
        cls._RELPATHS,
    )


def _native_values() -> tuple[type, ...]:
    """The classes the C decoder makes itself (its values' part says how)."""
    import ipaddress

    from . import net

    return (ipaddress.IPv4Address, ipaddress.IPv6Address, net.SockAddrV4, net.SockAddrV6,
            net.SockAddrUnix, net.SockAddrOther, net.SockTupleV4, net.SockTupleV6,
            net.SockTupleUnix, net.SockTupleOther)  # fmt: skip


#: What the C decoder was given: the placeholders of the import (``str`` for RelPath, no
#: value classes: no event is decoded before its type's plan), RelPath, RelPath and the
#: value classes.
_AT_IMPORT, _WITH_RELPATH, _WITH_VALUES = range(3)
_BOUND = _AT_IMPORT


def _bind_native(level: int) -> None:
    """Give the C decoder this module's classes and functions, with those of ``level``."""
    global _BOUND
    assert NATIVE is not None
    relpath = str if level == _AT_IMPORT else _relpath_class()
    values = _native_values() if level == _WITH_VALUES else ()
    NATIVE.bind_typed(Event, relpath, _native_plan, _decode_py, values)
    _BOUND = level


if NATIVE is not None:
    _bind_native(_AT_IMPORT)
