"""The async emitter's rules through the C host, and BackgroundTask in plain Python."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from falco_plugin import BackgroundTask
from falco_plugin.testing import plugin_args, run_capture

PLUGINS = Path(__file__).resolve().parent / "plugins"


def test_emitter_errors_and_threads(falco_build) -> None:
    lib = falco_build(str(PLUGINS / "async_probe.py"))
    # 2 events of the first start, 3 of the second (its old emitter's refusal too)
    wait = ["--async-wait", "60000", "--async-until", "5"]
    cap = run_capture([plugin_args(lib)], options=["--async-reset", *wait])
    assert cap.ok, cap.error_message + cap.stderr
    records = cap.async_events
    texts = [data.decode() for data in cap.async_data("probe")]
    refused = "refused: async event not_declared is not declared in ASYNC_EVENTS"
    assert texts.count(refused) == 2  # once per start
    assert "old emitter: async events are stopped (the handler was cleared)" in texts
    threaded = [r for r in records if bytes.fromhex(r["data_hex"]) == b"from a thread"]
    assert len(threaded) == 2 and all(r["ts"] == 123 and r["tid"] == 7 for r in threaded)


def test_background_task_runs_and_stops() -> None:
    hits: list[float] = []
    task = BackgroundTask(lambda: hits.append(time.monotonic()), 0.01)
    started = time.monotonic()
    task.start()
    deadline = started + 60
    while len(hits) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    task.stop()
    elapsed, n = time.monotonic() - started, len(hits)
    assert n >= 3 and not task.running
    # every 10 ms at most: never more calls than the intervals that fit in the time it ran
    assert all(b - a >= 0.009 for a, b in zip(hits, hits[1:], strict=False)), hits
    assert n <= elapsed / 0.01 + 1
    time.sleep(0.05)
    assert len(hits) == n  # stopped means stopped
    with pytest.raises(ValueError):
        BackgroundTask(lambda: None, 0)


def test_background_task_survives_errors_and_ends_on_closed_emitter() -> None:
    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("transient")
        if len(calls) == 3:
            raise RuntimeError("async events are stopped")

    task = BackgroundTask(flaky, 0.001)
    task.start()
    deadline = time.monotonic() + 5
    while task.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not task.running and len(calls) == 3
