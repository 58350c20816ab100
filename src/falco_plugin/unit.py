"""Unit tests of single fields: build an event in Python and extract one field from it.

A field method receives an :class:`~falco_plugin.extract.ExtractEvent`; inside Falco it is a
C object over the host's event. :func:`make_event` builds the same thing in Python (a plugin
event from a payload, or any scap event from its bytes, e.g. one made with
:mod:`falco_plugin.event`), and :func:`extract_field` calls a field by the name rules use,
argument included, the way the host does (``make_context`` once per event, the same checks
on the returned value)::

    from falco_plugin.unit import extract_field, make_event

    plugin = Dummy(DummyConfig(jitter=0))
    event = make_event(b"12")
    assert extract_field(plugin, "dummy.divisible[4]", event) == 1
    assert extract_field(plugin, "dummy.strvalue", event) == "12"

No library is built and no host runs: these tests take microseconds. Test the built ``.so``
too (``falco_capture`` in :mod:`falco_plugin.testing`), since only that goes through the ABI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
from typing import Any

from .base import Plugin, defines
from .event.framing import (
    HEADER_LEN,
    NO_TID,
    PAYLOAD_OFFSET,
    PLUGIN_EVENT_TYPE,
    EventFormatError,
    PluginEvent,
    _header_and_params,
    encode_plugin_event,
)
from .extract import (
    ARG_INDEX,
    ARG_KEY,
    ARG_NONE,
    FTYPE_ABSTIME,
    FTYPE_BOOL,
    FTYPE_IPADDR,
    FTYPE_IPNET,
    FTYPE_RELTIME,
    FTYPE_STRING,
    FTYPE_UINT64,
    FieldSpec,
    Located,
    field_specs,
)
from .source import EventBatch

__all__ = ["FieldError", "TestEvent", "check_supplied", "extract_field", "make_event"]

_FIELD_REF = re.compile(r"(?P<name>[^\[\]]+)(?:\[(?P<arg>.*)\])?", re.S)
_MISSING = object()


class FieldError(ValueError):
    """The field does not exist, its argument is wrong, or it returned a value the host
    would refuse (the message says which)."""


class TestEvent:
    """An event as a field method sees it: the attributes of ``ExtractEvent``.

    ``payload`` exists for plugin events (type 322) only, as in the host; ``context`` is
    computed on first use by the ``make_context`` of the plugin the event is extracted
    with (:func:`extract_field` binds it), once per event.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, raw: bytes, *, evtnum: int = 1, source: str = "") -> None:
        if len(raw) < HEADER_LEN:
            raise EventFormatError(f"event of {len(raw)} bytes is shorter than a header")
        self.ts, self.tid, length, self.type, _ = _header_and_params()[0].unpack_from(raw, 0)
        if length != len(raw):
            raise EventFormatError(f"event header says {length} bytes, got {len(raw)}")
        self.raw = raw
        self.evtnum = evtnum
        self.source = source
        self.plugin_id = 0
        self._payload: bytes | None = None
        if self.type == PLUGIN_EVENT_TYPE:
            decoded = PluginEvent.decode(raw)
            self.plugin_id, self._payload = decoded.plugin_id, decoded.payload
        self._context: Any = _MISSING
        self._make_context: Any = None

    @property
    def payload(self) -> bytes:
        """The payload of a plugin event (AttributeError for other event types)."""
        if self._payload is None:
            raise AttributeError("only plugin events (type 322) have a payload")
        return self._payload

    @property
    def context(self) -> Any:
        """The plugin's ``make_context(event)``, computed once."""
        if self._context is _MISSING:
            if self._make_context is None:
                raise AttributeError(
                    "event.context needs a make_context(self, event) method on the plugin"
                )
            self._context = self._make_context(self)
        return self._context

    @context.setter
    def context(self, value: Any) -> None:
        self._context = value

    def bind(self, plugin: Plugin) -> TestEvent:
        """Use ``plugin``'s ``make_context`` for ``context`` (a new plugin resets it)."""
        hook = plugin.make_context if defines(type(plugin), "make_context") else None  # type: ignore[attr-defined]
        if hook != self._make_context:
            self._make_context, self._context = hook, _MISSING
        return self

    def __repr__(self) -> str:
        what = f"payload={self._payload!r}" if self._payload is not None else f"type={self.type}"
        return f"TestEvent(evtnum={self.evtnum}, ts={self.ts}, {what})"


def make_event(
    payload: bytes | str | None = None,
    *,
    raw: bytes | None = None,
    ts: int | None = None,
    tid: int = NO_TID,
    plugin_id: int = 0,
    evtnum: int = 1,
    source: str = "",
) -> TestEvent:
    """An event for a field test: a plugin event carrying ``payload``, or the encoded event
    ``raw`` (any type, e.g. ``Event(event_class(">open")(...)).encode()``).

    ``ts`` defaults to now (the host stamps plugin events that way); ``source`` is the
    event source name a field sees in ``event.source`` (e.g. ``"k8s_audit"``).
    """
    if (payload is None) == (raw is None):
        raise TypeError("give exactly one of payload or raw")
    if raw is None:
        stamp = time.time_ns() if ts is None else ts
        raw = encode_plugin_event(payload or b"", ts=stamp, plugin_id=plugin_id, tid=tid)
    elif ts is not None or tid != NO_TID or plugin_id:
        raise TypeError("ts, tid and plugin_id come from the raw event's own header")
    return TestEvent(bytes(raw), evtnum=evtnum, source=source)


def extract_field(plugin: Plugin, field: str, event: TestEvent) -> Any:
    """The value of ``field`` (e.g. ``"ka.uri.param[command]"``) for ``event``, as the
    field method returned it (``None`` or ``[]``: the field is absent).

    The argument is parsed as the host does (an index for int arguments, the text for
    key arguments); a missing required argument, an unknown field or a value the host
    would refuse raises :class:`FieldError`; exceptions of the field method propagate.
    """
    match = _FIELD_REF.fullmatch(field)
    if match is None:
        raise FieldError(f"not a field reference: {field!r}")
    name, arg_text = match["name"], match["arg"]
    specs = {spec.name: spec for spec in field_specs(type(plugin))}
    spec = specs.get(name)
    if spec is None:
        known = ", ".join(sorted(specs)) or "none"
        raise FieldError(f"{type(plugin).__name__} has no field {name!r} (fields: {known})")
    method = getattr(plugin, spec.attr)
    event.bind(plugin)
    if arg_text is None:
        if spec.arg != ARG_NONE and spec.arg_required:
            raise FieldError(f"field {name} requires an argument")
        value = method(event)
    elif spec.arg == ARG_NONE:
        raise FieldError(f"field {name} takes no argument")
    elif spec.arg == ARG_INDEX:
        if not arg_text.isdigit():
            raise FieldError(f"field {name} takes an index argument, got {arg_text!r}")
        value = method(event, int(arg_text))
    else:
        assert spec.arg == ARG_KEY
        value = method(event, arg_text)
    if type(value) is Located:
        check_payload_range(spec, value, event)
        value = value.value
    check_value(spec, value)
    return value


def check_payload_range(spec: FieldSpec, located: Located, event: TestEvent) -> None:
    """A located value must lie inside the event (offsets count from the event start)."""
    if not spec.offsets:
        raise FieldError(f"field {spec.name} returned a located value without offsets=True")
    if located.start < PAYLOAD_OFFSET and event.type == PLUGIN_EVENT_TYPE:
        raise FieldError(f"field {spec.name}: offset {located.start} is before the payload")
    if located.start + located.length > len(event.raw):
        raise FieldError(f"field {spec.name}: offset past the end of the event")


_CHECKS: dict[int, tuple[str, Any]] = {
    FTYPE_UINT64: ("an int in [0, 2**64)", lambda v: type(v) is int and 0 <= v < 2**64),
    FTYPE_STRING: ("a str without NUL", lambda v: isinstance(v, str) and "\x00" not in v),
    FTYPE_BOOL: ("a bool", lambda v: isinstance(v, (bool, int))),
    FTYPE_RELTIME: ("a timedelta or int ns", lambda v: isinstance(v, (dt.timedelta, int))),
    FTYPE_ABSTIME: ("a datetime or int ns", lambda v: isinstance(v, (dt.datetime, int))),
    FTYPE_IPADDR: (
        "an IP address",
        lambda v: isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address)),
    ),
    FTYPE_IPNET: (
        "an IP network",
        lambda v: isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network)),
    ),
}


def check_value(spec: FieldSpec, value: Any) -> None:
    """Refuse what the shim would refuse: a value of the wrong type for the field."""
    if value is None:
        return
    what, ok = _CHECKS[spec.ftype]
    items = value if spec.is_list else [value]
    if spec.is_list and not isinstance(value, (list, tuple)):
        raise FieldError(f"list field {spec.name} returned {type(value).__name__}, not a list")
    for item in items:
        if not ok(item):
            raise FieldError(f"field {spec.name} must return {what}, got {item!r}")


def check_supplied(plugin: Plugin, batch: EventBatch) -> None:
    """Check the field values a source supplied with its events (``batch.add(payload,
    fields=...)``) against the field methods, event by event; raise :class:`FieldError`
    naming every value that differs.

    Inside Falco a supplied value answers its field for its event without calling the
    method, but the same events read back from a capture file go to the method: both must
    say the same. Fill ``batch`` with the plugin's own ``next_batch``::

        batch = EventBatch()
        plugin.open("100").next_batch(batch)
        check_supplied(plugin, batch)
    """
    specs = {spec.name: spec for spec in field_specs(type(plugin))}
    source = str(getattr(plugin, "EVENT_SOURCE", ""))
    problems = []
    for n, (raw, supplied) in enumerate(zip(batch.events, batch.supplied, strict=True), 1):
        if not supplied:
            continue
        event = TestEvent(raw, evtnum=n, source=source)
        for name, value in supplied.items():
            spec = specs.get(name)
            if spec is None or spec.arg != ARG_NONE:
                why = "no such field" if spec is None else "a field with an argument"
                raise FieldError(f"event {n}: {name!r} cannot be supplied ({why})")
            method_value = extract_field(plugin, name, event)
            if _comparable(spec, value) != _comparable(spec, method_value):
                problems.append(
                    f"event {n}: {name} supplied {value!r}, its method returns {method_value!r}"
                )
    if problems:
        raise FieldError("supplied values differ from the field methods: " + "; ".join(problems))


def _comparable(spec: FieldSpec, value: Any) -> Any:
    """A value as the host receives it: lists as lists (None is no value), times in ns."""
    items = list(value or ()) if spec.is_list else [] if value is None else [value]
    if spec.ftype == FTYPE_BOOL:
        return [bool(v) for v in items]
    if spec.ftype in (FTYPE_RELTIME, FTYPE_ABSTIME):
        return [_nanoseconds(v) for v in items]
    return items


def _nanoseconds(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        value = aware - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    if isinstance(value, dt.timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1000
    return value
