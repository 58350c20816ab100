"""Plugin events (type 322) and async events (type 402) as typed events, plus JSON payloads.

``plugin_event(payload)`` frames what a source plugin emits; ``async_event(name, data)`` what an
async-capable plugin pushes to the host. Both give an :class:`Event`; ``.encode()`` has the
bytes (identical to :func:`.framing.encode_plugin_event` for plugin events).
"""

from __future__ import annotations

import json
from typing import Any

from ._generated import AsyncEventE, PluginEventE
from .framing import EventFormatError
from .raw import Buffer, RawEvent
from .typed import Event, decode

__all__ = ["async_event", "json_payload", "payload_json", "plugin_event"]


def _payload(data: bytes | bytearray | memoryview | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def plugin_event(
    payload: bytes | bytearray | memoryview | str, plugin_id: int = 0, ts: int | None = None
) -> Event:
    """A plugin event; ``plugin_id`` 0 lets the host fill in the plugin's id, ``ts`` None now."""
    return Event(PluginEventE(plugin_id=plugin_id, event_data=_payload(payload)), ts=ts)


def async_event(
    name: str,
    data: bytes | bytearray | memoryview | str = b"",
    plugin_id: int = 0,
    ts: int | None = None,
    tid: int | None = None,
) -> Event:
    """An async event named ``name`` (one the plugin declares) carrying ``data``."""
    return Event(AsyncEventE(plugin_id=plugin_id, name=name, data=_payload(data)), ts=ts, tid=tid)


def json_payload(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON, the usual payload of plugin and async events."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def payload_json(event: Event | RawEvent | Buffer) -> Any:
    """Parse the payload of a plugin or async event (typed, raw or bytes) as JSON.

    Raises EventFormatError for other event types and for payloads that are not JSON.
    """
    ev = event if isinstance(event, Event) else decode(event)
    params = ev.params
    if isinstance(params, PluginEventE):
        data = params.event_data
    elif isinstance(params, AsyncEventE):
        data = params.data
    else:
        raise EventFormatError(f"{params.ID} events have no JSON payload")
    try:
        return json.loads(data or b"")
    except ValueError as exc:
        raise EventFormatError(f"payload is not JSON: {exc}") from exc
