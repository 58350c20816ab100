"""The source API in plain Python: batches, helpers, open params, progress, metrics."""

from __future__ import annotations

import json
import threading
import time

import pytest

from falco_plugin import (
    Eof,
    EventBatch,
    Metric,
    MetricType,
    MetricValueType,
    OpenParam,
    PluginEvent,
    Progress,
    PullInstance,
    PushInstance,
    Timeout,
    encode_plugin_event,
)
from falco_plugin.event.framing import PAYLOAD_OFFSET, TS_NOW, EventFormatError
from falco_plugin.source import open_params_json


def test_plugin_event_framing_round_trips() -> None:
    raw = encode_plugin_event(b"hello", ts=123, plugin_id=999)
    assert len(raw) == PAYLOAD_OFFSET + 5
    event = PluginEvent.decode(raw)
    assert (event.ts, event.plugin_id, event.payload, event.tid) == (123, 999, b"hello", 2**64 - 1)
    assert PluginEvent.decode(encode_plugin_event("x")).ts == TS_NOW


@pytest.mark.parametrize("cut", [0, 10, 37])
def test_truncated_plugin_events_are_refused(cut: int) -> None:
    with pytest.raises(EventFormatError):
        PluginEvent.decode(encode_plugin_event(b"payload")[:cut])


def test_python_batch_collects_events() -> None:
    batch = EventBatch()
    batch.add(b"a")
    batch.add("b", ts=5)
    batch.add_many([b"c", bytearray(b"d"), memoryview(b"e")])
    batch.add_event(encode_plugin_event(b"f"))
    assert len(batch) == 6
    assert batch.payloads() == [b"a", b"b", b"c", b"d", b"e", b"f"]
    with pytest.raises(EventFormatError):
        batch.add_event(b"short")


def test_open_params_serialization() -> None:
    params = [
        OpenParam("a", "first"),
        "b",
        OpenParam.sequence(["x", "y", "z"], ";", "all three"),
    ]
    assert json.loads(open_params_json(params)) == [
        {"value": "a", "desc": "first"},
        {"value": "b"},
        {"value": "x;y;z", "desc": "all three", "separator": ";"},
    ]
    with pytest.raises(ValueError, match="contains the separator"):
        OpenParam.sequence(["a;b"], ";")


def test_progress_is_clamped_and_encoded() -> None:
    assert Progress(12.345, "x").encoded() == (1234, "x")
    assert Progress(250).encoded() == (10000, None)
    assert Progress(-3).encoded() == (0, None)


def test_metric_value_types() -> None:
    assert Metric("a", 5).resolved_value_type() is MetricValueType.U64
    assert Metric("a", -5).resolved_value_type() is MetricValueType.S64
    assert (
        Metric("a", 1.5, MetricType.NON_MONOTONIC).resolved_value_type() is MetricValueType.DOUBLE
    )
    with pytest.raises(ValueError, match="out of range"):
        Metric("a", 2**32, value_type=MetricValueType.U32).resolved_value_type()
    with pytest.raises(TypeError):
        Metric("a", "5").resolved_value_type()  # type: ignore[arg-type]


def test_pull_instance_batches_waits_and_keeps_eof() -> None:
    items: list[bytes | None] = [b"1", b"2", None, b"3"]

    def pull() -> bytes | None:
        if not items:
            raise Eof
        return items.pop(0)

    inst = PullInstance(pull, timeout=0.05, batch_size=10)
    batch = EventBatch()
    inst.next_batch(batch)  # stops at the first None with events in hand
    assert batch.payloads() == [b"1", b"2"]
    batch = EventBatch()
    with pytest.raises(Eof):  # the end is seen while filling: the event before it stays
        inst.next_batch(batch)
    assert batch.payloads() == [b"3"]
    with pytest.raises(Eof):  # sticky
        inst.next_batch(EventBatch())


def test_pull_instance_times_out_after_waiting() -> None:
    inst = PullInstance(lambda: None, timeout=0.03)
    start = time.monotonic()
    with pytest.raises(Timeout):
        inst.next_batch(EventBatch())
    assert time.monotonic() - start >= 0.025  # waited instead of spinning


def test_push_instance_from_a_thread() -> None:
    inst = PushInstance(timeout=0.5, batch_size=4)

    def produce() -> None:
        for i in range(10):
            inst.push(str(i))
        inst.end()

    threading.Thread(target=produce).start()
    got: list[bytes] = []
    while True:
        batch = EventBatch()
        try:
            inst.next_batch(batch)
        except Eof:
            got += batch.payloads()
            break
        assert len(batch) <= 4
        got += batch.payloads()
    assert got == [str(i).encode() for i in range(10)]
    with pytest.raises(Eof):
        inst.next_batch(EventBatch())


def test_push_instance_timeout_and_failure() -> None:
    inst = PushInstance(timeout=0.02)
    with pytest.raises(Timeout):
        inst.next_batch(EventBatch())
    inst.fail(RuntimeError("upstream broke"))
    with pytest.raises(RuntimeError, match="upstream broke"):
        inst.next_batch(EventBatch())
