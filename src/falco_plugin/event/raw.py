"""Raw events: a checked, zero-copy view of one scap event in a buffer, and a stream walker.

Layout (little-endian, packed): a 26-byte header ``ts u64, tid i64, len u32, type u16,
nparams u32``; then ``nparams`` parameter lengths (u16 each, u32 for EF_LARGE_PAYLOAD types);
then the parameter values back to back. ``len`` counts everything, header included.
"""

from __future__ import annotations

import sys

from .._lean_typing import TYPE_CHECKING
from ._generated import EVENT_COUNT, EVENT_LAYOUT_DIGEST, LARGE_CODES, MAX_PARAMS
from .framing import EventFormatError

if TYPE_CHECKING:
    import struct
    from collections.abc import Iterator
    from typing import Any

__all__ = ["HEADER_LEN", "EventFormatError", "RawEvent", "iter_events", "is_large"]

HEADER_LEN = 26
_large = [False] * EVENT_COUNT
for _code in LARGE_CODES:
    _large[_code] = True
_LARGE = tuple(_large)  # per event type: whether its parameter lengths are u32
_MAX_PARAMS = MAX_PARAMS
_LENGTHS: dict[tuple[int, bool], struct.Struct] = {}

Buffer = bytes | bytearray | memoryview


_new = object.__new__


def is_large(event_type: int) -> bool:
    """Whether events of this type have u32 parameter lengths; unknown types are an error."""
    if 0 <= event_type < len(_LARGE):
        return _LARGE[event_type]
    raise EventFormatError(f"unknown event type {event_type}")


def _lengths_struct(nparams: int, large: bool) -> struct.Struct:
    key = (nparams, large)
    st = _LENGTHS.get(key)
    if st is None:
        import struct

        st = _LENGTHS[key] = struct.Struct(f"<{nparams}{'I' if large else 'H'}")
    return st


#: The header's unpack_from, made at first use: struct is an extension module (a shared
#: library to load) that a plugin's start does not need (its C walker reads the headers).
_unpack_header: Any = None


def _header_unpacker() -> Any:
    global _unpack_header
    import struct

    _unpack_header = struct.Struct("<QqIHI").unpack_from
    return _unpack_header


def _as_bytes_view(buf: Buffer) -> memoryview:
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        if not view.c_contiguous:
            raise TypeError("event buffers must be contiguous")
        view = view.cast("B")
    return view


class RawEvent:
    """One validated event inside a buffer; parameters are memoryview slices (no copies).

    It keeps a view of the caller's buffer: the buffer must outlive it and not change.
    """

    __slots__ = ("ts", "tid", "len", "type", "nparams", "lengths", "_buf", "_off")

    ts: int
    tid: int
    len: int
    type: int
    nparams: int
    lengths: tuple[int, ...]
    _buf: memoryview
    _off: int

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> RawEvent:
        """Check the event at ``offset`` and view it; raises EventFormatError when malformed."""
        view = _as_bytes_view(buf)
        if NATIVE is not None and type(offset) is int:
            return NATIVE.parse(view, offset)
        return _parse(view, offset)

    @property
    def large(self) -> bool:
        """True when the parameter lengths are u32 (EF_LARGE_PAYLOAD)."""
        return _LARGE[self.type]

    @property
    def data_offset(self) -> int:
        """Where the first parameter value starts, from the start of the event."""
        return HEADER_LEN + self.nparams * (4 if _LARGE[self.type] else 2)

    def param(self, index: int) -> memoryview:
        """The bytes of parameter ``index`` (empty when absent)."""
        if not 0 <= index < self.nparams:
            raise IndexError(f"parameter {index} of an event with {self.nparams}")
        lengths = self.lengths
        start = self._off + self.data_offset + sum(lengths[:index])
        return self._buf[start : start + lengths[index]]

    def params(self) -> list[memoryview]:
        """The bytes of every parameter, in order."""
        view = self._buf
        pos = self._off + self.data_offset
        out = []
        for size in self.lengths:
            out.append(view[pos : pos + size])
            pos += size
        return out

    @property
    def view(self) -> memoryview:
        """The whole event (header included) as a memoryview of the caller's buffer."""
        return self._buf[self._off : self._off + self.len]

    def tobytes(self) -> bytes:
        """A copy of the whole event."""
        return self._buf[self._off : self._off + self.len].tobytes()

    def __repr__(self) -> str:
        return (
            f"RawEvent(type={self.type}, ts={self.ts}, tid={self.tid}, len={self.len}, "
            f"nparams={self.nparams})"
        )


def _parse(
    view: memoryview,
    offset: int,
    _large: tuple[bool, ...] = _LARGE,
    _structs: dict[tuple[int, bool], struct.Struct] = _LENGTHS,
) -> RawEvent:
    size = len(view)
    if offset < 0 or offset + HEADER_LEN > size:
        raise EventFormatError(f"truncated event header at offset {offset}")
    ts, tid, length, etype, nparams = (_unpack_header or _header_unpacker())(view, offset)
    if length < HEADER_LEN:
        raise EventFormatError(f"event length {length} below the header size at offset {offset}")
    if offset + length > size:
        raise EventFormatError(
            f"event of {length} bytes at offset {offset} runs past the buffer ({size} bytes)"
        )
    if etype >= len(_large):
        raise EventFormatError(f"unknown event type {etype} at offset {offset}")
    large = _large[etype]
    table = HEADER_LEN + nparams * (4 if large else 2)
    if nparams > _MAX_PARAMS or table > length:
        raise EventFormatError(
            f"event at offset {offset}: {nparams} parameter lengths do not fit in {length} bytes"
        )
    st = _structs.get((nparams, large)) or _lengths_struct(nparams, large)
    lengths = st.unpack_from(view, offset + HEADER_LEN)
    if table + sum(lengths) != length:
        raise EventFormatError(
            f"event at offset {offset}: parameter lengths add up to {sum(lengths)}, "
            f"but the event has {length - table} bytes of values"
        )
    ev = _new(RawEvent)
    ev.ts = ts
    ev.tid = tid
    ev.len = length
    ev.type = etype
    ev.nparams = nparams
    ev.lengths = lengths
    ev._buf = view
    ev._off = offset
    return ev


def iter_events(buf: Buffer) -> Iterator[RawEvent]:
    """Yield the events stored back to back in ``buf``; a bad or truncated one raises."""
    if NATIVE is not None:
        return NATIVE.walk(buf)
    return _iter_events(buf)


def _iter_events(buf: Buffer) -> Iterator[RawEvent]:
    """iter_events in Python (the buffer is checked at the first ``next``)."""
    view = _as_bytes_view(buf)
    offset = 0
    end = len(view)
    while offset < end:
        ev = _parse(view, offset)
        yield ev
        offset += ev.len


#: The runtime module of the SDK copy this module belongs to (its import space's).
_RUNTIME = __name__.rsplit(".", 2)[0] + "._runtime"


def _bind_native() -> Any:
    """The shim's C event functions when this code runs in a plugin library made from the
    same event schema, else None.

    Inside a plugin library built with this SDK, the shim leaves an object on the import
    space's ``falco_plugin._runtime`` module (``native_events``): the header walk,
    ``RawEvent.parse`` and ``decode`` in C (``_native/shim_events.c``). This module and
    :mod:`.typed` use it when it was made from the same event schema (the layout digest);
    elsewhere (a Python process, a test) they run their Python code, which stays the
    reference."""
    lib = getattr(sys.modules.get(_RUNTIME), "native_events", None)
    if lib is None or not lib.bind_raw(RawEvent, EventFormatError, _as_bytes_view,
                                       EVENT_LAYOUT_DIGEST):  # fmt: skip
        return None
    return lib


#: The C event functions in use, or None (Python).
NATIVE = _bind_native()
