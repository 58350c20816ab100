"""Property tests: any bytes decode cleanly or raise EventFormatError, never anything else.

Also: whatever decodes re-encodes to the very same bytes, and decoding reads nothing past the
event's own ``len`` (bytes after it never change the result).
"""

from __future__ import annotations

import struct

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from falco_plugin.event import (  # noqa: E402
    EVENT_CLASSES,
    EventFormatError,
    RawEvent,
    decode,
    iter_events,
)

from .test_event_model import ALL  # noqa: E402

VALID = [ev.encode() for ev in ALL]
FAST = settings(
    max_examples=1000, deadline=1000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _check(data: bytes) -> None:
    """Decode one event: either it fails with EventFormatError, or it round-trips exactly."""
    try:
        ev = decode(data)
    except EventFormatError:
        return
    raw = RawEvent.parse(data)
    assert ev.encode() == data[: raw.len]
    assert decode(data[: raw.len]) == ev  # nothing after len was read


def _walk(data: bytes) -> None:
    try:
        for raw in iter_events(data):
            try:
                decode(raw)
            except EventFormatError:
                pass
    except EventFormatError:
        pass


@FAST
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _check(data)
    _walk(data)


@FAST
@given(
    st.integers(0, len(EVENT_CLASSES) - 1),
    st.integers(0, 40),
    st.lists(st.integers(0, 300), max_size=40),
    st.binary(max_size=300),
)
def test_random_bodies_behind_a_valid_header(
    code: int, nparams: int, lengths: list[int], body: bytes
) -> None:
    """Headers and length tables that look right, over random parameter bytes."""
    width = "I" if EVENT_CLASSES[code].LARGE else "H"
    lengths = lengths[:nparams] + [0] * (nparams - len(lengths))
    table = struct.pack(f"<{nparams}{width}", *lengths)
    values = (body * (1 + sum(lengths) // max(1, len(body))))[: sum(lengths)]
    total = 26 + len(table) + len(values)
    data = struct.pack("<QqIHI", 1, 2, total, code, nparams) + table + values
    _check(data)
    _check(data + body)


@FAST
@given(st.sampled_from(VALID), st.data())
def test_truncated_valid_events(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data) - 1))
    with pytest.raises(EventFormatError):
        decode(data[:cut])
    _walk(data[:cut])


@FAST
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_events(data: bytes, draw: st.DataObject) -> None:
    buf = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4))):
        pos = draw.draw(st.integers(0, len(buf) - 1))
        buf[pos] = draw.draw(st.integers(0, 255))
    _check(bytes(buf))
    _walk(bytes(buf) + data)


@FAST
@given(st.sampled_from(VALID), st.binary(max_size=64))
def test_trailing_bytes_are_not_read(data: bytes, tail: bytes) -> None:
    assert decode(data + tail) == decode(data)
    assert decode(memoryview(data + tail)[: len(data)]) == decode(data)


@settings(max_examples=40, deadline=2000, derandomize=True)
@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=30), st.binary(max_size=40))
def test_streams_with_a_bad_tail(chunks: list[bytes], tail: bytes) -> None:
    stream = b"".join(chunks)
    assert [r.tobytes() for r in iter_events(stream)] == chunks
    _walk(stream + tail)
