"""Field extraction through the raw ABI (ctypes, the way libsinsp calls it): every type as
plain / optional-absent / list / empty list, arguments, offsets, per-event context,
failures, and two states of one .so on two threads."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
from pathlib import Path

import pytest

from falco_plugin import encode_plugin_event
from tests.abi import FAILURE, SUCCESS, Extractor, load

PLUGINS = Path(__file__).resolve().parent / "plugins"
ROOT = Path(__file__).resolve().parent.parent

EV = encode_plugin_event(b"alpha beta", plugin_id=424246)
ABSENT = encode_plugin_event(b"absent", plugin_id=424246)
EMPTY = encode_plugin_event(b"empty", plugin_id=424246)
NS = 1_000_000_000

EXPECTED = {
    "u64": (2**64 - 1, [0, 1, 2**40]),
    "str": ("héllo", ["a", "", "c"]),
    "bool": (True, [True, False]),
    "reltime": (2 * NS + 5000, [0]),
    "abstime": (
        int(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp()) * NS + 6000,
        [],
    ),
    "ipaddr": (ipaddress.ip_address("10.1.2.3"), [ipaddress.ip_address("::1")]),
    "ipnet": (ipaddress.ip_address("10.0.0.0"), [ipaddress.ip_address("fe80::")]),
}


@pytest.fixture(scope="module")
def so(falco_build):
    return load(falco_build(str(PLUGINS / "alltypes.py")))


@pytest.fixture
def x(so):
    ex = Extractor(so, offsets=True)
    assert ex.init_rc == SUCCESS, ex.last_error
    yield ex
    ex.close()


def test_fields_json_declares_types_lists_and_args(so) -> None:
    fields = {f["name"]: f for f in json.loads(so.plugin_get_fields())}
    assert fields["at.u64"]["type"] == "uint64" and "isList" not in fields["at.u64"]
    assert fields["at.ipnet.list"] == {
        "name": "at.ipnet.list",
        "type": "ipnet",
        "desc": "a list of ipnet",
        "isList": True,
    }
    assert fields["at.index"]["arg"] == {"isRequired": True, "isIndex": True, "isKey": False}
    assert fields["at.key.opt"]["arg"] == {"isRequired": False, "isIndex": False, "isKey": True}
    assert fields["at.key.opt"]["properties"] == ["hidden"]
    assert fields["at.key.opt"]["display"] == "Key"
    assert fields["at.word"]["addOutput"] is True
    assert fields["at.ctx.words"]["desc"] == "Words in the payload, from the per-event context."
    assert so.plugin_get_required_api_version() == b"3.11.0"  # it reports value offsets


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_type_plain_optional_list_empty(x: Extractor, kind: str) -> None:
    plain, many = EXPECTED[kind]
    assert x.extract(EV, f"at.{kind}")[:2] == (SUCCESS, plain)
    assert x.extract(EV, f"at.{kind}.opt")[:2] == (SUCCESS, plain)
    assert x.extract(ABSENT, f"at.{kind}.opt")[:2] == (SUCCESS, None)
    assert x.extract(EV, f"at.{kind}.list")[:2] == (SUCCESS, many)
    assert x.extract(EMPTY, f"at.{kind}.list")[:2] == (SUCCESS, [])


def test_many_fields_in_one_call(x: Extractor) -> None:
    # more values of every type than the result arrays first hold: they grow (and move)
    # during the call, and every field's result must point at its values at the end
    specs = [s for kind in sorted(EXPECTED) for s in (f"at.{kind}", f"at.{kind}.list")] * 6
    specs += ["at.word", "at.str.opt", "at.key[abc]", "at.u64"]
    want = [x.extract(EV, spec)[1] for spec in specs]
    rc, got, where = x.extract_many(EV, specs)
    assert rc == SUCCESS, x.last_error
    assert got == want
    assert where is not None and where[-4:] == [(38, 5), (0, 0), (0, 0), (0, 0)]


def test_arguments(x: Extractor) -> None:
    assert x.extract(EV, "at.index[21]")[:2] == (SUCCESS, 42)
    assert x.extract(EV, "at.index.opt[5]")[:2] == (SUCCESS, 5)
    assert x.extract(EV, "at.index.opt")[:2] == (SUCCESS, 1000)
    assert x.extract(EV, "at.key[abc]")[:2] == (SUCCESS, "ABC")
    assert x.extract(EV, "at.key.opt[k]")[:2] == (SUCCESS, "k")
    assert x.extract(EV, "at.key.opt")[:2] == (SUCCESS, None)
    rc, _, _ = x.extract(EV, "at.key")  # a required argument missing
    assert rc == FAILURE and "requires an argument" in x.last_error


def test_offsets(x: Extractor) -> None:
    assert x.extract(EV, "at.word") == (SUCCESS, "alpha", (38, 5))
    assert x.extract(EV, "at.u64")[2] == (0, 0)  # no offsets: 0..0


def test_context_is_computed_once_per_event(x: Extractor) -> None:
    assert x.extract(EV, "at.ctx.words", evtnum=1)[1] == 2
    assert x.extract(EV, "at.ctx.calls", evtnum=1)[1] == 1  # same event: reused
    assert x.extract(EV, "at.ctx.words", evtnum=1)[1] == 2
    assert x.extract(EV, "at.ctx.calls", evtnum=2)[1] == 2  # next event: computed again
    assert x.extract(ABSENT, "at.ctx.words", evtnum=3)[1] == 1


def test_an_event_object_kept_by_the_plugin_stays_as_it_was(x: Extractor) -> None:
    # the SDK reuses one event object from call to call, unless the plugin keeps it
    first = x.extract(EV, "at.keep", evtnum=1, source=b"one")[1]
    assert first == "alpha beta:one:322"
    assert x.extract(ABSENT, "at.word", evtnum=2, source=b"two")[1] == "absent"
    second = x.extract(EMPTY, "at.keep", evtnum=3, source=b"three")[1]
    gone = "this event is only readable during the extraction call that received it"
    assert second == f"alpha beta:one:{gone} | empty:three:322"


def test_payloads_of_new_events_do_not_change_a_payload_kept_or_hashed(x: Extractor) -> None:
    # the payload bytes object is refilled for the next event only when nothing else holds
    # it; sizes change (a resize) and stay (in place), and a hash cached in it is dropped
    words = [b"one", b"two", b"three", b"sixsix", b"x", b"", b"seven77", b"eight88", b"ab"]
    for n, word in enumerate(words):
        raw = encode_plugin_event(word, plugin_id=424246)
        got = x.extract(raw, "at.payload.hash", evtnum=100 + n)[:2]
        assert got == (SUCCESS, f"{word.decode()}:True")
    for n, word in enumerate(words):
        raw = encode_plugin_event(word, plugin_id=424246)
        kept = x.extract(raw, "at.payload.keep", evtnum=200 + n)[1]
        assert kept == ";".join(w.decode() for w in words[: n + 1])


def test_tid_and_payload_of_plugin_and_other_events(x: Extractor) -> None:
    raw = bytearray(encode_plugin_event(b"abc", plugin_id=424246))
    raw[8:16] = (77).to_bytes(8, "little")
    assert x.extract(bytes(raw), "at.tid")[:2] == (SUCCESS, "77")
    assert x.extract(bytes(raw), "at.tid")[:2] == (SUCCESS, "77")  # the same tid again
    assert x.extract(EV, "at.tid")[:2] == (SUCCESS, "-1")
    raw[20:22] = (2).to_bytes(2, "little")  # not a plugin event: no payload
    rc, _, _ = x.extract(bytes(raw), "at.word")
    assert rc == FAILURE and "AttributeError" in x.last_error and "payload" in x.last_error
    assert x.extract(EV, "at.word")[:2] == (SUCCESS, "alpha")  # a plugin event again


def test_failures_are_reported_and_logged(x: Extractor) -> None:
    rc, _, _ = x.extract(EV, "at.fail")
    assert rc == FAILURE and "ValueError: no such thing" in x.last_error
    rc, _, _ = x.extract(EV, "at.bad")
    assert rc == FAILURE and "expected an int value, got str" in x.last_error
    for which in (0, 1):
        rc, _, _ = x.extract(EV, f"at.out_of_range[{which}]")
        assert rc == FAILURE and "an integer field value must be in [0, 2**64)" in x.last_error
    assert x.extract(EV, "at.u64")[:2] == (SUCCESS, 2**64 - 1)  # the largest one fits
    assert any(b"extracting at.fail failed" in m for m in x.logs)
    for _ in range(20):  # rate-limited: the log does not grow with every failure
        x.extract(EV, "at.fail")
    assert sum(b"at.fail" in m for m in x.logs) <= 6


def test_two_states_on_two_threads(so) -> None:
    states = [Extractor(so) for _ in range(2)]
    errors: list[str] = []

    def work(ex: Extractor, base: int) -> None:
        for i in range(300):
            raw = encode_plugin_event(f"w{base + i} x y".encode(), plugin_id=424246)
            rc, words, _ = ex.extract(raw, "at.ctx.words", evtnum=base + i)
            rc2, word, _ = ex.extract(raw, "at.word", evtnum=base + i)
            if (rc, words, rc2, word) != (SUCCESS, 3, SUCCESS, f"w{base + i}"):
                errors.append(f"{base + i}: {rc} {words} {rc2} {word}")

    threads = [threading.Thread(target=work, args=(ex, 10_000 * n)) for n, ex in enumerate(states)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for ex in states:
        ex.close()


def test_countdown_fields(falco_build) -> None:
    ex = Extractor(load(falco_build(str(ROOT / "examples" / "countdown" / "plugin.py"))), b"{}")
    raw = encode_plugin_event(b"12 events remaining", plugin_id=999)
    assert ex.extract(raw, "countdown.remaining")[:2] == (SUCCESS, 12)
    assert ex.extract(raw, "countdown.text")[:2] == (SUCCESS, "12 events remaining")
    assert ex.extract(raw, "countdown.divisible[4]")[:2] == (SUCCESS, True)
    assert ex.extract(raw, "countdown.divisible[5]")[:2] == (SUCCESS, False)
    assert ex.extract(raw, "countdown.divisible[0]")[0] == FAILURE
    ex.close()


SYSCALL_EXTRACTOR = """
from falco_plugin import ExtractPlugin, field

class Sys(ExtractPlugin):
    NAME = "sysx"
    VERSION = "1.0.0"
    DESCRIPTION = "d"
    CONTACT = "c"
    EXTRACT_EVENT_SOURCES = ["syscall", "countdown"]
    EXTRACT_EVENT_TYPES = [2, 3, 322]

    @field("sysx.tid")
    def tid(self, event) -> int:
        "The event's thread id."
        return event.tid
"""


def test_declared_event_sources_and_types_are_exported(falco_build, tmp_path: Path) -> None:
    import ctypes

    path = tmp_path / "sysx.py"
    path.write_text(SYSCALL_EXTRACTOR)
    so = load(falco_build(str(path)))
    so.plugin_get_extract_event_sources.restype = ctypes.c_char_p
    assert json.loads(so.plugin_get_extract_event_sources()) == ["syscall", "countdown"]
    so.plugin_get_extract_event_types.restype = ctypes.POINTER(ctypes.c_uint16)
    n = ctypes.c_uint32()
    types = so.plugin_get_extract_event_types(ctypes.byref(n), None)
    assert [types[i] for i in range(n.value)] == [2, 3, 322]
    # a non-plugin event (type 2 with one param) reaches the field; payload is not needed
    raw = bytearray(encode_plugin_event(b"x"))
    raw[20:22] = (2).to_bytes(2, "little")
    raw[8:16] = (77).to_bytes(8, "little")
    ex = Extractor(so)
    assert ex.extract(bytes(raw), "sysx.tid")[:2] == (SUCCESS, 77)
    ex.close()


def test_plugins_without_declarations_export_no_filters(so) -> None:
    assert not hasattr(so, "plugin_get_extract_event_sources")
    assert not hasattr(so, "plugin_get_extract_event_types")


def test_syscall_readers_declare_the_event_schema_version(falco_build, tmp_path: Path) -> None:
    import ctypes

    from falco_plugin.event import EVENT_SCHEMA_VERSION

    path = tmp_path / "sysx2.py"
    path.write_text(SYSCALL_EXTRACTOR.replace('"sysx', '"sysy'))
    so = load(falco_build(str(path)))
    so.plugin_get_required_event_schema_version.restype = ctypes.c_char_p
    version = so.plugin_get_required_event_schema_version(None).decode()
    assert version == EVENT_SCHEMA_VERSION
    pinned = tmp_path / "sysx3.py"
    pinned.write_text(
        SYSCALL_EXTRACTOR.replace('"sysx', '"sysz').replace(
            "    EXTRACT_EVENT_TYPES",
            '    REQUIRED_EVENT_SCHEMA_VERSION = "3.0.0"\n    EXTRACT_EVENT_TYPES',
        )
    )
    so = load(falco_build(str(pinned)))
    so.plugin_get_required_event_schema_version.restype = ctypes.c_char_p
    assert so.plugin_get_required_event_schema_version(None) == b"3.0.0"


def test_plugin_events_only_plugins_do_not_declare_a_schema_version(so) -> None:
    assert not hasattr(so, "plugin_get_required_event_schema_version")
