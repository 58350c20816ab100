"""Plugin events (type 322), light: the scap framing of a payload and a read-only view of one,
for the hot paths (a source's next_batch, a field's event) that must not load the whole
event model; :mod:`falco_plugin.event` has the typed events of every type.

A plugin event is a 26-byte header (ts, tid, len, type, nparams) followed by two u32
parameter lengths, the u32 plugin id and the payload; the payload starts at byte 38.
"""

from __future__ import annotations

from .._lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    import struct
    from typing import NamedTuple
else:
    from .._lean_typing import NamedTuple

PLUGIN_EVENT_TYPE = 322
ASYNC_EVENT_TYPE = 402
HEADER_LEN = 26
PAYLOAD_OFFSET = 38
#: ``ts`` value asking the host to stamp the event with the time it receives it.
TS_NOW = 2**64 - 1
#: ``tid`` of events not tied to a thread.
NO_TID = 2**64 - 1
MAX_PAYLOAD = 2**32 - 1 - PAYLOAD_OFFSET

_formats: tuple[struct.Struct, struct.Struct] | None = None


def _header_and_params() -> tuple[struct.Struct, struct.Struct]:
    """The header's and the plugin parameters' layouts. Made at first use: every plugin's
    init imports this module, and struct is an extension module (a shared library to load)."""
    global _formats
    if _formats is None:
        import struct

        _formats = struct.Struct("<QQIHI"), struct.Struct("<III")
    return _formats


class EventFormatError(ValueError):
    """Bytes that are not a well-formed event of the expected kind."""


def encode_plugin_event(
    payload: bytes | bytearray | memoryview | str,
    *,
    ts: int | None = None,
    plugin_id: int = 0,
    tid: int = NO_TID,
) -> bytes:
    """Frame a payload as a plugin event; ``ts=None`` lets the host stamp it (TS_NOW)."""
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    if len(data) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(data)} bytes does not fit in an event")
    header, params = _header_and_params()
    framed = header.pack(
        TS_NOW if ts is None else ts, tid & NO_TID, PAYLOAD_OFFSET + len(data), PLUGIN_EVENT_TYPE, 2
    )
    return framed + params.pack(4, len(data), plugin_id) + data


class PluginEvent(NamedTuple):
    """A plugin event as the host hands it back (e.g. to ``event_to_string``)."""

    ts: int
    tid: int
    plugin_id: int
    payload: bytes
    evtnum: int = 0
    source: str = ""

    @classmethod
    def decode(cls, raw: bytes | memoryview, *, evtnum: int = 0, source: str = "") -> PluginEvent:
        """Parse a complete plugin event; raises :class:`EventFormatError` when malformed."""
        if len(raw) < PAYLOAD_OFFSET:
            raise EventFormatError(f"event of {len(raw)} bytes is shorter than a plugin event")
        header, params = _header_and_params()
        ts, tid, length, etype, nparams = header.unpack_from(raw, 0)
        if etype != PLUGIN_EVENT_TYPE or nparams != 2:
            raise EventFormatError(f"not a plugin event (type {etype}, {nparams} params)")
        id_len, payload_len, plugin_id = params.unpack_from(raw, HEADER_LEN)
        if id_len != 4 or length != PAYLOAD_OFFSET + payload_len or length > len(raw):
            raise EventFormatError("inconsistent plugin event lengths")
        return cls(ts, tid, plugin_id, bytes(raw[PAYLOAD_OFFSET:length]), evtnum, source)
