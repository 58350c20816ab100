"""Kubernetes audit events out of JSON text, as the official k8saudit plugin accepts them.

A piece of input (a line of a log file, the body of a webhook request) holds one audit
event (``"kind": "Event"``), an ``EventList`` (its ``items`` are events), or a JSON array of
those. Each event becomes one plugin event: its payload is the event as compact JSON (the
text Kubernetes wrote, whitespace removed) and its time stamp is the event's
``stageTimestamp``.

Bad input never stops the capture: a piece that is not JSON or not audit events is dropped
whole, an event without a valid ``stageTimestamp`` or larger than ``maxEventSize`` is
dropped alone, and each drop is logged (rate-limited) and counted.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from typing import Any, NamedTuple

from falco_plugin.gojson import dumps, loads
from falco_plugin.logs import RateLimiter

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:(Z)|([+-])(\d\d):(\d\d))"
)
_EPOCH = dt.datetime(1970, 1, 1)


class BadInput(ValueError):
    """A piece of input, or one event in it, that cannot be delivered."""


class AuditEvent(NamedTuple):
    """One audit event ready for a batch: its time (ns since the epoch) and payload."""

    ts: int
    payload: bytes


_MINUTES: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> seconds since the epoch


def _minute(match: re.Match[str]) -> int:
    """Seconds since the epoch at the start of the match's minute (checked, cached: events
    of a log come in the same few minutes)."""
    key = match.string[:16]
    seconds = _MINUTES.get(key)
    if seconds is None:
        year, month, day, hour, minute = (int(g) for g in match.groups()[:5])
        try:
            when = dt.datetime(year, month, day, hour, minute)
        except ValueError as exc:
            raise BadInput(f"stageTimestamp {match.string!r}: {exc}") from None
        seconds = (when - _EPOCH) // dt.timedelta(seconds=1)
        if len(_MINUTES) > 10_000:
            _MINUTES.clear()
        _MINUTES[key] = seconds
    return seconds


def parse_timestamp(value: Any) -> int:
    """An RFC 3339 time (``2024-05-01T10:00:00.123456Z``) as ns since the epoch."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise BadInput(f"cannot parse stageTimestamp {value!r} as an RFC 3339 time")
    second = int(match[6])
    if second > 59:
        raise BadInput(f"stageTimestamp {value!r}: second must be in 0..59")
    seconds = _minute(match) + second
    if match[9]:  # an offset from UTC: local time minus offset is UTC
        offset = int(match[10]) * 3600 + int(match[11]) * 60
        seconds -= offset if match[9] == "+" else -offset
    if seconds < 0:
        raise BadInput(f"stageTimestamp {value!r} is before 1970")
    fraction = match[7]
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


def is_compact(text: bytes) -> bool:
    """Whether JSON text has no whitespace between its tokens, i.e. is already what Go's
    fastjson writes back (False when unsure)."""
    if b'\\"' in text or b"\\\\" in text:  # quotes that do not delimit strings: unsure
        return False
    outside = b"".join(text.split(b'"')[::2])  # everything outside strings (4 us for 1 KB)
    return not (b" " in outside or b"\t" in outside or b"\n" in outside or b"\r" in outside)


class Counters:
    """What the plugin reports as metrics; shared by every capture of a plugin state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events = 0  # delivered to Falco
        self.dropped = 0  # events or pieces of input refused
        self.bytes = 0  # input read (lines, request bodies)
        self.requests = 0  # webhook requests accepted
        self.rejected = 0  # webhook requests refused (method, content type, size)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


class AuditParser:
    """Turns pieces of input into audit events; logs and counts what it drops."""

    def __init__(self, max_event_size: int, logger: logging.Logger, counters: Counters) -> None:
        self.max_event_size = max_event_size
        self.logger = logger
        self.counters = counters
        self.limiter = RateLimiter()

    def parse(self, data: bytes) -> list[AuditEvent]:
        """The events of one piece of input (a log line, a request body)."""
        try:
            document = loads(data)
            if type(document) is dict and document.get("kind") == "Event":  # a log's line
                return self.events([document], data)
            return self.events(events_of(document))
        except (BadInput, ValueError) as exc:
            self.drop(f"dropped input of {len(data)} bytes: {exc}")
            return []

    def events(self, items: list[Any], text: bytes | None = None) -> list[AuditEvent]:
        """The events of audit event objects; ``text`` is the JSON text of a lone one."""
        out = []
        for item in items:
            try:
                out.append(self.event(item, text))
            except BadInput as exc:
                self.drop(f"dropped an audit event: {exc}")
        return out

    def event(self, item: Any, text: bytes | None = None) -> AuditEvent:
        """One audit event object as a plugin event; ``text`` is its JSON text when the
        input held it alone (used as the payload when already compact)."""
        if not isinstance(item, dict) or "stageTimestamp" not in item:
            raise BadInput("no stageTimestamp")
        ts = parse_timestamp(item["stageTimestamp"])
        payload = text if text is not None and is_compact(text) else dumps(item).encode()
        if len(payload) > self.max_event_size:
            raise BadInput(f"event larger than maxEventSize: size={len(payload)}")
        return AuditEvent(ts, payload)

    def drop(self, message: str) -> None:
        self.counters.add(dropped=1)
        allowed, held = self.limiter.allow("drop")
        if allowed:
            more = f" ({held} more not logged)" if held else ""
            self.logger.warning("%s%s", message[:300], more)


def events_of(document: Any) -> list[Any]:
    """The audit event objects of a JSON document: an Event, the items of an EventList, or
    an array of those (one element that is neither makes the whole array bad input)."""
    if isinstance(document, list):
        return [event for element in document for event in events_of(element)]
    kind = document.get("kind") if isinstance(document, dict) else None
    if kind == "Event":
        return [document]
    if kind == "EventList" and isinstance(document.get("items"), list):
        return list(document["items"])
    raise BadInput("data not recognized as a k8s audit event")
