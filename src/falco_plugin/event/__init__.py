"""The Falco event model: raw views, typed events of every schema type, text and JSON forms.

- :mod:`.raw`: :class:`RawEvent` (zero-copy, validated) and :func:`iter_events`;
- :mod:`.typed`: :class:`Event`, :func:`decode`, :func:`event_class`, ``EVENT_CLASSES``;
- :mod:`.params`: the value types (Errno, Flags, SockAddr, ...) and their codecs;
- :mod:`.text`: ``Event.to_text()`` / ``Event.to_json()``;
- :mod:`.plugin`: plugin (322) and async (402) events and JSON payloads;
- :mod:`.capture`: scap capture files (``.scap``), read and written like libscap does, with
  :mod:`.capture_blocks` (metadata blocks), :mod:`.convert` (older event layouts) and
  :mod:`.replay` (what a host replay needs); imported on use, not by this package.

The generated classes (``SyscallOpenE``, ``PluginEventE``, ...) are importable from here.
"""

from __future__ import annotations

from typing import Any

from ..events import EventFormatError
from . import _generated
from ._generated import DYNAMIC_TABLES, EVENT_CLASSES, EVENT_SCHEMA_VERSION, FLAG_TABLES
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
from .plugin import async_event, json_payload, payload_json, plugin_event
from .raw import RawEvent, iter_events
from .spec import EventParams, ParamSpec
from .typed import Event, decode, event_class
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
)

__all__ = [
    "AbsTime",
    "DYNAMIC_TABLES",
    "DynParam",
    "EVENT_CLASSES",
    "EVENT_SCHEMA_VERSION",
    "EnumFlags",
    "Errno",
    "Event",
    "EventFormatError",
    "EventParams",
    "FLAG_TABLES",
    "Fd",
    "Flags",
    "Mode",
    "ParamSpec",
    "Pid",
    "RawEvent",
    "RelPath",
    "RelTime",
    "SigSet",
    "Signal",
    "SyscallId",
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
    "async_event",
    "decode",
    "event_class",
    "iter_events",
    "json_payload",
    "payload_json",
    "plugin_event",
]


def __getattr__(name: str) -> Any:
    """The generated params classes by name: ``falco_plugin.event.SyscallOpenE``."""
    cls = getattr(_generated, name, None)
    if isinstance(cls, type) and issubclass(cls, EventParams):
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
