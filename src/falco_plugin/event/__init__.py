"""The Falco event model: raw views, typed events of every schema type, text and JSON forms.

- :mod:`.raw`: :class:`RawEvent` (zero-copy, validated) and :func:`iter_events`;
- :mod:`.typed`: :class:`Event`, :func:`decode`, :func:`event_class`, ``EVENT_CLASSES``;
- :mod:`.params`: the value types (Errno, Flags, SockAddr, ...) and their codecs;
- :mod:`.text`: ``Event.to_text()`` / ``Event.to_json()``;
- :mod:`.plugin`: plugin (322) and async (402) events and JSON payloads; :mod:`.framing`:
  the plugin event framing alone (``encode_plugin_event``, the light :class:`PluginEvent`
  view a source or a field gets), which the SDK's hot paths use without the event model;
- :mod:`.capture`: scap capture files (``.scap``), read and written like libscap does, with
  :mod:`.capture_blocks` (metadata blocks), :mod:`.convert` (older event layouts) and
  :mod:`.replay` (what a host replay needs); imported on use, not by this package.

The generated classes (``SyscallOpenE``, ``PluginEventE``, ...) are importable from here.
Every name is imported on first use: ``from falco_plugin.event.framing import PluginEvent``
loads only the framing (a plugin's start pays for nothing else).
"""

from __future__ import annotations

import importlib

from .._lean_typing import TYPE_CHECKING

#: Every public name, and the submodule it comes from.
_SOURCES: dict[str, str] = {
    **dict.fromkeys(["DYNAMIC_TABLES", "EVENT_CLASSES", "EVENT_SCHEMA_VERSION", "FLAG_TABLES"],
                    "_generated"),
    **dict.fromkeys(["SockAddr", "SockAddrOther", "SockAddrUnix", "SockAddrV4", "SockAddrV6",
                     "SockTuple", "SockTupleOther", "SockTupleUnix", "SockTupleV4",
                     "SockTupleV6"], "net"),
    **dict.fromkeys(["async_event", "json_payload", "payload_json", "plugin_event"], "plugin"),
    **dict.fromkeys(["EventFormatError", "PluginEvent", "encode_plugin_event", "TS_NOW"],
                    "framing"),
    **dict.fromkeys(["RawEvent", "iter_events"], "raw"),
    **dict.fromkeys(["EventParams", "ParamSpec"], "spec"),
    **dict.fromkeys(["Event", "decode", "event_class"], "typed"),
    **dict.fromkeys(["AbsTime", "DynParam", "EnumFlags", "Errno", "Fd", "Flags", "Mode", "Pid",
                     "RelPath", "RelTime", "Signal", "SigSet", "SyscallId"], "values"),
}  # fmt: skip

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
    "PluginEvent",
    "RawEvent",
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
    "SyscallId",
    "TS_NOW",
    "async_event",
    "decode",
    "encode_plugin_event",
    "event_class",
    "iter_events",
    "json_payload",
    "payload_json",
    "plugin_event",
]

if TYPE_CHECKING:
    from typing import Any

    from ._generated import DYNAMIC_TABLES, EVENT_CLASSES, EVENT_SCHEMA_VERSION, FLAG_TABLES
    from .framing import TS_NOW, EventFormatError, PluginEvent, encode_plugin_event
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


def __getattr__(name: str) -> Any:
    """A public name from its submodule, or a generated params class by name
    (``falco_plugin.event.SyscallOpenE``), imported on first use."""
    module = _SOURCES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    if name.startswith("_"):  # a submodule being imported (`from . import x` asks first)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # import_module, not `from . import`: that would ask this function again for the name
    generated = importlib.import_module(f"{__name__}._generated")
    if name in generated.CLASS_NAMES:
        return getattr(generated, name)  # made on first use (see ._classes)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
