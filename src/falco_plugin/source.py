"""The event source capability: open a stream, fill batches of events, close it.

A source plugin subclasses :class:`SourcePlugin`; ``open(params)`` returns a
:class:`SourceInstance` whose ``next_batch(batch)`` adds events to the batch and returns.
Raise :class:`Timeout` when nothing is available now and :class:`Eof` at the end of the
stream; events added to the batch before the exception are still delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._lean_typing import TYPE_CHECKING
from .base import Plugin
from .event.framing import PluginEvent, encode_plugin_event

if TYPE_CHECKING:
    from typing import Any, ClassVar, NamedTuple, Protocol
else:
    from ._lean_typing import NamedTuple, Protocol

Payload = bytes | bytearray | memoryview | str


class Timeout(Exception):
    """No event is ready now; the host calls ``next_batch`` again soon."""


class Eof(Exception):
    """The stream is over; the host stops reading this source."""


class EventBatchLike(Protocol):
    """What ``next_batch`` receives: the C-owned batch inside the host, a list in tests."""

    def add(
        self, payload: Payload, ts: int | None = None, *, fields: Mapping[str, Any] | None = None
    ) -> None:
        """Add one plugin event (``ts`` None: the host stamps it; ``fields``: values of the
        plugin's own fields for it, answered without calling their methods)."""

    def add_many(
        self, payloads: Iterable[Payload], *, fields: Mapping[str, Iterable[Any]] | None = None
    ) -> None:
        """Add one plugin event per payload, stamped by the host (``fields``: one column of
        values per field, a value per event)."""

    def add_formatted(
        self,
        template: str,
        *columns: Iterable[Any],
        fields: Mapping[str, Iterable[Any]] | None = None,
    ) -> None:
        """Add one plugin event per row of ``columns``: ``template.format(*row)`` as UTF-8,
        made in C (``{}`` placeholders only), stamped by the host."""

    def add_event(self, event: bytes | bytearray | memoryview) -> None:
        """Add a whole scap event (for sources of other event types); ValueError, and the
        event is not added, when the host could not take it (see :mod:`.event.source_check`)."""

    def __len__(self) -> int: ...


class EventBatch:
    """An in-process batch with the same methods as the C one, for tests and tools.

    ``add`` frames a payload as a plugin event (type 322); ``ts=None`` lets the host stamp
    it; ``fields`` supplies values of the plugin's own fields for the event (kept in
    :attr:`supplied`; :func:`falco_plugin.unit.check_supplied` compares them with what the
    field methods return). ``add_many`` adds payloads in bulk and ``add_formatted`` makes
    them from a template (both much faster in the real host; a bulk call adds all its events
    or, on an error, none). ``add_event`` takes an already encoded event.
    """

    def __init__(self) -> None:
        self.events: list[bytes] = []
        #: per event, the ``fields`` it was added with (None: none)
        self.supplied: list[dict[str, Any] | None] = []

    def add(
        self, payload: Payload, ts: int | None = None, *, fields: Mapping[str, Any] | None = None
    ) -> None:
        """Append one plugin event carrying ``payload``."""
        if fields is not None and not isinstance(fields, Mapping):
            kind = type(fields).__name__
            raise TypeError(f"fields= takes a dict {{field name: value}}, not {kind}")
        self.events.append(encode_plugin_event(payload, ts=ts))
        self.supplied.append(None if fields is None else dict(fields))

    def add_many(
        self, payloads: Iterable[Payload], *, fields: Mapping[str, Iterable[Any]] | None = None
    ) -> None:
        """Append one plugin event per payload, all stamped by the host; ``fields`` maps a
        field name to its values, one per event. All or, on an error, none are added."""
        items = list(payloads)
        rows = _field_rows(fields, len(items))
        events = [encode_plugin_event(payload) for payload in items]
        self.events += events
        self.supplied += rows

    def add_formatted(
        self,
        template: str,
        *columns: Iterable[Any],
        fields: Mapping[str, Iterable[Any]] | None = None,
    ) -> None:
        """Append one plugin event per row of ``columns``, its payload
        ``template.format(*row)`` in UTF-8; ``template`` takes ``{}`` placeholders (one per
        column) and ``{{ }}`` for braces, nothing else. ``fields`` as for :meth:`add_many`."""
        self.add_many(format_rows(template, columns), fields=fields)

    def add_event(self, event: bytes | bytearray | memoryview) -> None:
        """Append an already encoded event (header and parameters)."""
        PluginEvent.decode(bytes(event))  # in-process batches only carry plugin events
        self.events.append(bytes(event))
        self.supplied.append(None)

    def __len__(self) -> int:
        return len(self.events)

    def payloads(self) -> list[bytes]:
        """The payloads of the plugin events added so far."""
        return [PluginEvent.decode(e).payload for e in self.events]


def format_rows(template: str, columns: tuple[Iterable[Any], ...]) -> list[bytes]:
    """The payloads of ``add_formatted(template, *columns)``, with its checks and errors."""
    if not isinstance(template, str):
        kind = type(template).__name__
        raise TypeError(f"add_formatted() takes a str template, not {kind}")
    slots = 0
    i = 0
    while i < len(template):
        ch = template[i]
        after = template[i + 1 : i + 2]
        if ch in "{}" and after == ch:
            i += 2
            continue
        if ch == "}":
            raise ValueError(f"add_formatted(): a single '}}' in the template {template!r}")
        if ch == "{":
            if after != "}":
                raise ValueError(
                    "add_formatted(): a placeholder other than {} (only {} and {{ }} are "
                    f"taken) in the template {template!r}"
                )
            if slots == _MAX_SLOTS:
                raise ValueError(
                    f"add_formatted(): more than 32 placeholders in the template {template!r}"
                )
            slots += 1
            i += 1
        i += 1
    if slots != len(columns):
        raise TypeError(
            f"add_formatted(): the template has {slots} placeholders for {len(columns)} columns"
        )
    if not slots:
        raise TypeError(
            "add_formatted(): the template needs a {} placeholder (one event per value of its "
            "column)"
        )
    lists = [_column(c, "add_formatted(): a column must be iterable") for c in columns]
    for other in lists[1:]:
        if len(other) != len(lists[0]):
            raise ValueError(
                f"add_formatted(): the columns have different lengths ({len(lists[0])} and "
                f"{len(other)})"
            )
    return [template.format(*row).encode() for row in zip(*lists, strict=True)]


_MAX_SLOTS = 32


def _column(values: Iterable[Any], message: str) -> list[Any]:
    try:
        return list(values)
    except TypeError:
        raise TypeError(message) from None


def _field_rows(fields: Mapping[str, Iterable[Any]] | None, n: int) -> list[dict[str, Any] | None]:
    """Per event, the values the columns of a bulk ``fields=`` give it."""
    if fields is None:
        return [None] * n
    if not isinstance(fields, Mapping):
        raise TypeError(f"fields= takes a dict {{field name: value}}, not {type(fields).__name__}")
    columns = {}
    for name, column in fields.items():
        values = _column(column, "fields=: a column takes one value per event (a list, a "
                         "tuple, a range...)")  # fmt: skip
        if len(values) != n:
            raise ValueError(
                f"fields=: the column of {name} has {len(values)} values for {n} events"
            )
        columns[name] = values
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


class OpenParam(NamedTuple):
    """A suggested open parameter (what ``falco --plugin-info`` lists)."""

    value: str
    desc: str = ""
    separator: str = ""

    @classmethod
    def sequence(cls, values: Iterable[str], separator: str, desc: str = "") -> OpenParam:
        """Several values usable together, joined with ``separator``."""
        items = list(values)
        if not separator:
            raise ValueError("a sequence of open params needs a separator")
        for v in items:
            if separator in v:
                raise ValueError(f"open param {v!r} contains the separator {separator!r}")
        return cls(separator.join(items), desc, separator)


def open_params_json(params: Iterable[OpenParam | str]) -> str:
    """Serialize suggested open params as the JSON array the API expects."""
    out = []
    for p in params:
        item = OpenParam(p) if isinstance(p, str) else p
        entry = {"value": item.value}
        if item.desc:
            entry["desc"] = item.desc
        if item.separator:
            entry["separator"] = item.separator
        out.append(entry)
    import json  # here: only for falco --list-plugins

    return json.dumps(out)


class Progress(NamedTuple):
    """How far an instance has read: ``percent`` in 0..100 and an optional text."""

    percent: float
    detail: str | None = None

    def encoded(self) -> tuple[int, str | None]:
        """The API's form: hundredths of a percent (0..10000) and the text."""
        pct = min(max(float(self.percent), 0.0), 100.0)
        return round(pct * 100), self.detail


class SourceInstance:
    """An open capture. Subclasses implement ``next_batch`` and may override the rest."""

    def next_batch(self, batch: EventBatchLike) -> None:
        """Add events to ``batch``; raise Timeout / Eof as documented in the module."""
        raise NotImplementedError

    def get_progress(self) -> Progress | None:
        """Read progress, for tools that read finite inputs; None when unknown."""
        return None

    def close(self) -> None:
        """Release the instance's resources (threads, files, sockets)."""


class SourcePlugin(Plugin):
    """A plugin with the event source capability.

    ``PLUGIN_ID`` and ``EVENT_SOURCE`` are set together (an id registered with the Falco
    project and the source name rules match on) or both left unset (a plugin that produces
    events for the ``syscall`` source or any other without its own id).
    """

    PLUGIN_ID: ClassVar[int] = 0
    EVENT_SOURCE: ClassVar[str] = ""

    def open(self, params: str) -> SourceInstance:
        """Start a capture with the open params string; return the instance."""
        raise NotImplementedError

    def close(self, instance: SourceInstance) -> None:
        """End a capture; by default calls ``instance.close()``."""
        instance.close()

    # Optional hooks, exported only when a subclass defines them:
    #   def list_open_params(self) -> Iterable[OpenParam | str]
    #   def event_to_string(self, event: PluginEvent) -> str
