"""heartbeat through the C host: async events from several Python threads, in per-thread
order, interleaved with a source's events; stop joins; dump_state."""

from __future__ import annotations

import json
from pathlib import Path

from falco_plugin.testing import plugin_args, run_capture

HERE = Path(__file__).resolve().parent
COUNTDOWN = str(HERE.parent / "countdown" / "plugin.py")


def asyncs(cap) -> list[dict]:
    return [e for e in cap.async_events if not e.get("dump")]


def test_heartbeats_from_four_threads_arrive_intact_and_in_order(falco_build) -> None:
    lib = falco_build(str(HERE / "plugin.py"))
    cap = run_capture(
        [plugin_args(lib, json.dumps({"interval_ms": 2, "threads": 4}))],
        options=["--async-wait", "400"],
    )
    assert cap.ok, cap.error_message + cap.stderr
    events = asyncs(cap)
    assert len(events) >= 8
    per_thread: dict[int, list[int]] = {}
    for e in events:
        assert e["name"] == "heartbeat" and e["type"] == 402
        data = json.loads(bytes.fromhex(e["data_hex"]))
        per_thread.setdefault(data["thread"], []).append(data["seq"])
    assert len(per_thread) == 4  # every thread emitted
    for seqs in per_thread.values():  # in order, none lost or duplicated
        assert seqs == list(range(len(seqs)))
    summary = next(s for s in cap.summaries if s["plugin"] == "heartbeat")
    assert summary["async_events"] == len(events)
    # the handler was cleared after stop_async joined the threads: the plugin's own count
    # equals what the host received
    metrics = {
        m["name"]: m["value"] for r in cap.metrics for m in r["items"] if r["plugin"] == "heartbeat"
    }
    assert metrics["heartbeats_sent"] == len(events)


def test_interleaved_with_source_events_and_dump_state(falco_build) -> None:
    lib = falco_build(str(HERE / "plugin.py"))
    countdown = falco_build(COUNTDOWN)
    cap = run_capture(
        [
            plugin_args(countdown, json.dumps({"batch_size": 1}), open_params="20000"),
            plugin_args(lib, json.dumps({"interval_ms": 1})),
        ],
        options=["--async-wait", "200", "--dump-state"],
    )
    assert cap.ok, cap.error_message + cap.stderr
    assert len(cap.events) == 20000
    assert asyncs(cap), "no heartbeat arrived during the capture"
    dumps = cap.async_data(dump=True)
    assert len(dumps) == 1 and json.loads(dumps[0])["sent"] >= 1
    # interleaved: some heartbeats arrived before the last countdown event
    stream = [line for line in cap.stdout.splitlines() if '"evtnum"' in line]
    first_async = next(i for i, line in enumerate(stream) if '"async": true' in line)
    last_source = max(i for i, line in enumerate(stream) if '"payload_hex"' in line)
    assert first_async < last_source


def test_handler_set_cleared_and_set_again(falco_build) -> None:
    lib = falco_build(str(HERE / "plugin.py"))
    cap = run_capture(
        [plugin_args(lib, json.dumps({"interval_ms": 2}))],
        options=["--async-reset", "--async-wait", "200"],
    )
    assert cap.ok, cap.error_message + cap.stderr
    seqs = [json.loads(bytes.fromhex(e["data_hex"]))["seq"] for e in asyncs(cap)]
    assert seqs and seqs[0] == 0
    # each start_async counts from 0 again: the events form runs 0, 1, 2, ... with nothing
    # lost or repeated inside a run, and nothing arrives between stop and the next start
    runs: list[list[int]] = []
    for n in seqs:
        if n == 0:
            runs.append([])
        runs[-1].append(n)
    assert all(run == list(range(len(run))) for run in runs), seqs
    assert 1 <= len(runs) <= 2


def test_readme_rule_fires_in_real_falco(readme_falco) -> None:
    """The README's falco.yaml and rule in real Falco (two seconds, no kernel driver)."""
    run = readme_falco(HERE, options=["-M", "2"])
    assert run.ok, run.error
    beats = [json.loads(a["output_fields"]["evt.arg.data"]) for a in run.alerts]
    assert len(beats) >= 4  # every 200 ms for 2 s
    assert [b["seq"] for b in beats] == list(range(len(beats)))
    assert {(a["rule"], a["source"]) for a in run.alerts} == {("Heartbeat", "syscall")}
    assert run.outputs()[0] == 'heartbeat {"thread": 0, "seq": 0}'
