"""Fields of every type, as plain / optional / list values, with arguments and offsets.

The payload steers the optional fields: b"absent" makes them return None and b"empty" makes
the list fields return []. Other payloads give the values below.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from falco_plugin import (
    Eof,
    ExtractEvent,
    ExtractPlugin,
    SourceInstance,
    SourcePlugin,
    field,
    in_payload,
)

UTC = dt.timezone.utc
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
NET = ipaddress.IPv4Network | ipaddress.IPv6Network

# kind -> (annotation, plain value, list value)
KINDS: dict[str, tuple[Any, Any, list[Any]]] = {
    "u64": (int, 2**64 - 1, [0, 1, 2**40]),
    "str": (str, "héllo", ["a", "", "c"]),
    "bool": (bool, True, [True, False]),
    "reltime": (dt.timedelta, dt.timedelta(seconds=2, microseconds=5), [dt.timedelta(0)]),
    "abstime": (dt.datetime, dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), []),
    "ipaddr": (IP, ipaddress.ip_address("10.1.2.3"), [ipaddress.ip_address("::1")]),
    "ipnet": (NET, ipaddress.ip_network("10.0.0.0/8"), [ipaddress.ip_network("fe80::/10")]),
}


def _fields(kind: str, tp: Any, plain: Any, many: list[Any]) -> dict[str, Any]:
    def value(self: Any, event: ExtractEvent) -> Any:
        return plain

    def optional(self: Any, event: ExtractEvent) -> Any:
        return None if event.payload == b"absent" else plain

    def listed(self: Any, event: ExtractEvent) -> Any:
        return [] if event.payload == b"empty" else many

    value.__annotations__ = {"event": ExtractEvent, "return": tp}
    optional.__annotations__ = {"event": ExtractEvent, "return": tp | None}
    listed.__annotations__ = {"event": ExtractEvent, "return": list[tp]}
    return {
        f"f_{kind}": field(f"at.{kind}", desc=f"a {kind} value")(value),
        f"f_{kind}_opt": field(f"at.{kind}.opt", desc=f"an optional {kind}")(optional),
        f"f_{kind}_list": field(f"at.{kind}.list", desc=f"a list of {kind}")(listed),
    }


class Instance(SourceInstance):
    def next_batch(self, batch) -> None:
        batch.add(b"alpha beta")
        batch.add(b"absent")
        batch.add(b"empty")
        raise Eof


class AllTypes(SourcePlugin, ExtractPlugin):
    NAME = "alltypes"
    VERSION = "1.0.0"
    DESCRIPTION = "Every field type"
    CONTACT = "tests"
    PLUGIN_ID = 424246
    EVENT_SOURCE = "alltypes"

    for _kind, (_tp, _plain, _many) in KINDS.items():
        locals().update(_fields(_kind, _tp, _plain, _many))

    def __init__(self, config: str = "") -> None:
        self.contexts = 0
        self.kept: list[ExtractEvent] = []
        self.payloads: list[bytes] = []

    def open(self, params: str) -> Instance:
        return Instance()

    @field("at.index")
    def index(self, event: ExtractEvent, i: int) -> int:
        """Twice the index argument (required)."""
        return 2 * i

    @field("at.index.opt")
    def index_opt(self, event: ExtractEvent, i: int = 1000) -> int:
        """The index argument, 1000 when absent."""
        return i

    @field("at.key")
    def key(self, event: ExtractEvent, k: str) -> str:
        """The key argument in capitals (required)."""
        return k.upper()

    @field("at.key.opt", hidden=True, display="Key")
    def key_opt(self, event: ExtractEvent, k: str | None = None) -> str | None:
        """The key argument, absent when not given."""
        return k

    @field("at.word", offsets=True, add_output=True)
    def word(self, event: ExtractEvent) -> str:
        """The payload's first word, with where it is."""
        first = event.payload.split(b" ", 1)[0]
        return in_payload(first.decode(), 0, len(first))

    def make_context(self, event: ExtractEvent) -> list[bytes]:
        self.contexts += 1
        return event.payload.split()

    @field("at.ctx.words")
    def ctx_words(self, event: ExtractEvent) -> int:
        """Words in the payload, from the per-event context."""
        return len(event.context)

    @field("at.ctx.calls")
    def ctx_calls(self, event: ExtractEvent) -> int:
        """How many times make_context ran so far (after building this event's context)."""
        event.context  # noqa: B018 - computed once per event
        return self.contexts

    @field("at.fail")
    def fail(self, event: ExtractEvent) -> int:
        """Always fails."""
        raise ValueError("no such thing")

    @field("at.out_of_range")
    def out_of_range(self, event: ExtractEvent, which: int) -> int:
        """An int no uint64 holds: -1 (index 0) or 2**64 (index 1)."""
        return -1 if which == 0 else 2**64

    @field("at.bad")
    def bad(self, event: ExtractEvent) -> int:
        """Returns the wrong type."""
        return "not an int"  # type: ignore[return-value]

    @field("at.keep")
    def keep(self, event: ExtractEvent) -> str:
        """Keeps the event object past its call; describes every event kept so far as
        payload:source:type (the payload was read during its call, the type is read now)."""
        event.payload  # noqa: B018 - read while the event is readable
        self.kept.append(event)
        out = []
        for kept in self.kept:
            try:
                kind = str(kept.type)
            except RuntimeError as exc:
                kind = str(exc)
            out.append(f"{kept.payload.decode()}:{kept.source}:{kind}")
        return " | ".join(out)

    @field("at.payload.keep")
    def payload_keep(self, event: ExtractEvent) -> str:
        """Keeps the payload (not the event) past its call; every payload kept so far."""
        self.payloads.append(event.payload)
        return ";".join(p.decode() for p in self.payloads)

    @field("at.payload.hash")
    def payload_hash(self, event: ExtractEvent) -> str:
        """The payload, and whether its hash is the hash of its value (it is computed and
        cached in the bytes object, then dropped: the next event must not inherit it)."""
        payload = event.payload
        return f"{payload.decode()}:{hash(payload) == hash(bytes(bytearray(payload)))}"

    @field("at.tid")
    def tid(self, event: ExtractEvent) -> str:
        """The event's thread id (as text: it can be -1)."""
        return str(event.tid)
