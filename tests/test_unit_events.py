"""falco_plugin.unit: events built in Python and single fields extracted from them."""

from __future__ import annotations

import ipaddress

import pytest

from falco_plugin import ExtractEvent, ExtractPlugin, field, in_payload
from falco_plugin.event import Event, EventFormatError, event_class
from falco_plugin.unit import FieldError, extract_field, make_event


class Words(ExtractPlugin):
    NAME = "words"
    VERSION = "0.1.0"
    DESCRIPTION = "fields over a payload of words"
    CONTACT = "nobody"

    def __init__(self, config: str = "") -> None:
        self.contexts = 0

    def make_context(self, event: ExtractEvent) -> list[str]:
        self.contexts += 1
        return event.payload.decode().split()

    @field("words.first")
    def first(self, event: ExtractEvent) -> str | None:
        """The first word."""
        return event.context[0] if event.context else None

    @field("words.at")
    def at(self, event: ExtractEvent, index: int = 0) -> str | None:
        """The word at an index (default 0)."""
        words = event.context
        return words[index] if index < len(words) else None

    @field("words.count")
    def count(self, event: ExtractEvent, word: str) -> int:
        """How often a word occurs."""
        return event.context.count(word)

    @field("words.all")
    def all(self, event: ExtractEvent) -> list[str]:
        """Every word."""
        return event.context

    @field("words.located", offsets=True)
    def located(self, event: ExtractEvent) -> str:
        """The first word, with where it lies in the payload."""
        word = event.context[0]
        return in_payload(word, 0, len(word))

    @field("words.wrong")
    def wrong(self, event: ExtractEvent) -> int:
        """Returns a str for an int field: a bug the helper must report."""
        return event.context[0]  # type: ignore[no-any-return]

    @field("words.addr")
    def addr(self, event: ExtractEvent) -> ipaddress.IPv4Address:
        """The first word as an address."""
        return ipaddress.IPv4Address(event.context[0])

    @field("words.syscall")
    def syscall(self, event: ExtractEvent) -> int:
        """The event type (works on any event)."""
        return event.type


def test_fields_with_and_without_arguments() -> None:
    plugin = Words()
    event = make_event(b"a b a c", ts=5, evtnum=9, source="words", plugin_id=77)
    assert (event.ts, event.evtnum, event.source, event.plugin_id) == (5, 9, "words", 77)
    assert extract_field(plugin, "words.first", event) == "a"
    assert extract_field(plugin, "words.at", event) == "a"
    assert extract_field(plugin, "words.at[3]", event) == "c"
    assert extract_field(plugin, "words.at[9]", event) is None
    assert extract_field(plugin, "words.count[a]", event) == 2
    assert extract_field(plugin, "words.count[a b]", event) == 0  # the key is the whole text
    assert extract_field(plugin, "words.all", event) == ["a", "b", "a", "c"]
    assert extract_field(plugin, "words.located", event) == "a"
    assert plugin.contexts == 1  # make_context ran once for all the fields of the event


def test_a_new_plugin_gets_its_own_context() -> None:
    event = make_event(b"x")
    first, second = Words(), Words()
    extract_field(first, "words.first", event)
    extract_field(second, "words.first", event)
    assert (first.contexts, second.contexts) == (1, 1)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("words.none", "has no field 'words.none'"),
        ("words.count", "requires an argument"),
        ("words.first[1]", "takes no argument"),
        ("words.at[x]", "takes an index argument"),
        ("words.wrong", "must return an int in [0, 2**64)"),
    ],
)
def test_mistakes_are_reported(ref: str, message: str) -> None:
    with pytest.raises(FieldError) as info:
        extract_field(Words(), ref, make_event(b"w"))
    assert message in str(info.value)


def test_typed_values_and_any_event() -> None:
    assert extract_field(Words(), "words.addr", make_event("10.0.0.1")) == ipaddress.IPv4Address(
        "10.0.0.1"
    )
    open_exit = Event(event_class("<open")(fd=3, name="/etc/passwd", flags=1, mode=0), tid=42)
    event = make_event(raw=open_exit.encode(), evtnum=3, source="syscall")
    assert (event.tid, event.type, event.evtnum, event.source) == (42, 3, 3, "syscall")  # open exit
    assert extract_field(Words(), "words.syscall", event) == 3
    with pytest.raises(AttributeError, match="only plugin events"):
        _ = event.payload


def test_make_event_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        make_event()
    with pytest.raises(TypeError, match="raw event's own header"):
        make_event(raw=make_event(b"x").raw, ts=1)
    with pytest.raises(EventFormatError):
        make_event(raw=b"\x00" * 10)
