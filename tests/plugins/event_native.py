"""Compares its library's C event functions with the Python ones, input by input.

The init config names a file of inputs (each a u32 length, then that many bytes): events of
every type, malformed ones too. Every input goes through both implementations: the header
walk (``RawEvent.parse``, ``iter_events`` over a stream), and the typed decode (from bytes,
from a buffer at an offset, from a RawEvent, from a RawEvent whose slots were changed). The
field ``evnative.report`` (on the one event this plugin's source makes) is
``["native" | "python", "compared N", "public B", "values bound on use B", <each
difference>...]``.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Any

from falco_plugin import Eof, ExtractEvent, ExtractPlugin, SourceInstance, SourcePlugin, field
from falco_plugin.event import raw, typed

#: The C decoder gets RelPath and the value classes (ipaddress', net.py's) with the first
#: plans that need them, not when typed is imported: none of those modules is there before.
UNBOUND_AT_IMPORT = typed._BOUND == typed._AT_IMPORT and not {
    f"{typed.__package__}.values", "ipaddress"
} & set(sys.modules)


def outcome(fn: Any, *args: Any) -> Any:
    """What a call gives, comparable across implementations: a value's full form, or the
    exception's type and text."""
    try:
        got = fn(*args)
    except Exception as exc:  # noqa: BLE001 - every failure is compared
        return ("error", type(exc).__name__, str(exc))
    return form(got)


def form(value: Any) -> Any:
    if isinstance(value, raw.RawEvent):
        return ("raw", value.ts, value.tid, value.len, value.type, value.nparams, value.lengths,
                value._off, bytes(value.view))  # fmt: skip
    if isinstance(value, typed.Event):
        params = value.params
        values = [(type(v).__name__, repr(v), getattr(v, "dirfd", None)) for v in params.as_tuple()]
        return ("event", repr(value), type(params).__name__, value.ts, value.tid, value.nparams,
                values)  # fmt: skip
    if isinstance(value, list):
        return [form(v) for v in value]
    return ("value", repr(value))


def walked(walk: Any, data: Any) -> Any:
    """Every RawEvent a walk gives, then how it ended."""
    out = []
    try:
        for ev in walk(data):
            out.append(form(ev))
    except Exception as exc:  # noqa: BLE001
        out.append(("error", type(exc).__name__, str(exc)))
    return out


def whole_event(data: bytes) -> bool:
    """Whether ``data`` is exactly one valid event."""
    got = outcome(raw._parse, memoryview(data), 0)
    return bool(got[0] == "raw" and got[3] == len(data))


def changed(parse: Any, data: bytes) -> Any:
    """A RawEvent whose slots were changed after parsing (they are writable)."""
    ev = parse(memoryview(data), 0)
    ev.nparams = max(ev.nparams - 1, 0)
    ev.lengths = ev.lengths[:-1]
    return ev


def compare(path: str) -> list[str]:
    native = raw.NATIVE
    if native is None:
        return ["python"]
    data = open(path, "rb").read()  # noqa: SIM115 - read once at init
    inputs, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        inputs.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    diffs: list[str] = []
    checks = 0

    def check(what: str, blob: bytes, mine: Any, reference: Any) -> None:
        nonlocal checks
        checks += 1
        if mine != reference and len(diffs) < 20:
            diffs.append(f"{what} of {blob[:40].hex()}: C {mine!r} != Python {reference!r}")

    for blob in inputs:
        check("parse", blob, outcome(native.parse, memoryview(blob), 0),
              outcome(raw._parse, memoryview(blob), 0))  # fmt: skip
        check("decode", blob, outcome(native.decode, blob, 0), outcome(typed._decode_py, blob, 0))
        padded = bytearray(b"\x00" * 5 + blob)
        check("decode at 5", blob, outcome(native.decode, padded, 5),
              outcome(typed._decode_py, padded, 5))  # fmt: skip
        check("decode of a RawEvent", blob,
              outcome(lambda b: native.decode(native.parse(memoryview(b), 0), 0), blob),
              outcome(lambda b: typed._decode_py(raw._parse(memoryview(b), 0)), blob))  # fmt: skip
        check("decode of a changed RawEvent", blob,
              outcome(lambda b: native.decode(changed(native.parse, b), 0), blob),
              outcome(lambda b: typed._decode_py(changed(raw._parse, b)), blob))  # fmt: skip
        stream = blob + blob + blob[: len(blob) // 2]
        check("walk", blob, walked(native.walk, stream), walked(raw._iter_events, stream))
    check("walk of a str", b"", walked(native.walk, "text"), walked(raw._iter_events, "text"))
    # one stream of every valid event (sizes change from event to event): the lengths tuples
    # of RawEvents the loop drops are filled again or kept for the next event of their size;
    # those the loop keeps stay as they were
    whole = b"".join(b for b in inputs if whole_event(b))
    reference = [list(ev.lengths) for ev in raw._iter_events(whole)]
    check("walk, lengths dropped", b"", [list(ev.lengths) for ev in native.walk(whole)],
          reference)  # fmt: skip
    kept = [ev.lengths for k, ev in enumerate(native.walk(whole)) if k % 3 == 0]
    check("walk, some lengths kept", b"", [list(t) for t in kept], reference[::3])
    check("parse past any buffer", b"", outcome(native.parse, memoryview(b""), 2**70),
          outcome(raw._parse, memoryview(b""), 2**70))  # fmt: skip
    # what the public names run is the C code
    public = raw.iter_events is not raw._iter_events and typed.decode(inputs[0]) is not None
    lazy = UNBOUND_AT_IMPORT and typed._BOUND == typed._WITH_VALUES
    return ["native", f"compared {checks}", f"public {public}", f"values bound on use {lazy}",
            *diffs]  # fmt: skip


class OneEvent(SourceInstance):
    def __init__(self) -> None:
        self.done = False

    def next_batch(self, batch) -> None:
        if self.done:
            raise Eof
        self.done = True
        batch.add(b"report")


class EventNative(SourcePlugin, ExtractPlugin):
    NAME = "event_native"
    VERSION = "1.0.0"
    DESCRIPTION = "Compares the C and Python event functions"
    CONTACT = "tests"
    PLUGIN_ID = 993
    EVENT_SOURCE = "event_native"

    def __init__(self, config: str) -> None:
        self.report = compare(json.loads(config)["inputs"]) if config.strip() else ["no inputs"]

    def open(self, params: str) -> OneEvent:
        return OneEvent()

    @field("evnative.report")
    def report_field(self, event: ExtractEvent) -> list[str]:
        """The comparison."""
        return self.report
