"""Exercises Timeout with events, explicit timestamps, stale batches and every metric type."""

from __future__ import annotations

from falco_plugin import (
    Eof,
    Metric,
    MetricType,
    MetricValueType,
    SourceInstance,
    SourcePlugin,
    Timeout,
)


class TicksInstance(SourceInstance):
    def __init__(self) -> None:
        self.round = 0
        self.old_batch = None

    def next_batch(self, batch) -> None:
        self.round += 1
        self.old_batch = batch  # kept on purpose: using it later must fail
        if self.round > 3:
            raise Eof
        # the last round: the largest explicit timestamp (2**64 - 1 means "stamp it now")
        batch.add(f"round {self.round}", ts=1000 + self.round if self.round < 3 else 2**64 - 2)
        raise Timeout  # the two events above are still delivered


class Ticks(SourcePlugin):
    NAME = "ticks"
    VERSION = "1.0.0"
    DESCRIPTION = "Timeouts with events"
    CONTACT = "tests"
    PLUGIN_ID = 424245
    EVENT_SOURCE = "ticks"

    def open(self, params: str) -> TicksInstance:
        self.instance = TicksInstance()
        return self.instance

    def get_metrics(self) -> list[Metric]:
        gauge = MetricType.NON_MONOTONIC
        try:  # outside next_batch the batch belongs to the host: adding must be refused
            self.instance.old_batch.add(b"too late")  # type: ignore[union-attr]
            stale_refused = 0
        except RuntimeError:
            stale_refused = 1
        return [
            Metric("stale_batch_refused", stale_refused),
            Metric("u32", 7, value_type=MetricValueType.U32),
            Metric("s32", -7, gauge, MetricValueType.S32),
            Metric("u64", 2**40),
            Metric("s64", -(2**40), gauge),
            Metric("double", 0.25, gauge),
            Metric("float", 1.5, gauge, MetricValueType.FLOAT),
            Metric("int", -3, gauge, MetricValueType.INT),
        ]
