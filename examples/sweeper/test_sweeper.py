"""sweeper through the C host: routines rescheduled while the capture runs, waiting
between runs instead of spinning, and stopped on capture close."""

from __future__ import annotations

import json
from pathlib import Path

from falco_plugin.testing import plugin_args, run_capture

HERE = Path(__file__).resolve().parent
COUNTDOWN = str(HERE.parent / "countdown" / "plugin.py")


def metrics_of(cap, plugin: str) -> dict[str, int]:
    return {m["name"]: m["value"] for r in cap.metrics for m in r["items"] if r["plugin"] == plugin}


def run(falco_build, config: dict, wait_ms: int):
    return run_capture(
        [
            plugin_args(falco_build(COUNTDOWN), open_params="3"),
            plugin_args(falco_build(str(HERE / "plugin.py")), json.dumps(config)),
        ],
        options=["--async-wait", str(wait_ms)],
    )


def test_routine_runs_until_it_says_stop(falco_build) -> None:
    cap = run(falco_build, {"interval_ms": 1, "max_sweeps": 5}, 300)
    assert cap.ok, cap.error_message + cap.stderr
    metrics = metrics_of(cap, "sweeper")
    assert metrics["sweeps"] == 5
    assert metrics["captures_opened"] == 1 and metrics["captures_closed"] == 1


def test_routine_waits_between_runs_and_stops_on_close(falco_build) -> None:
    cap = run(falco_build, {"interval_ms": 50}, 300)
    assert cap.ok, cap.error_message + cap.stderr
    sweeps = metrics_of(cap, "sweeper")["sweeps"]
    # about 300 ms / 50 ms: a spinning routine would have run thousands of times
    assert 2 <= sweeps <= 20, sweeps


def test_readme_rule_fires_in_real_falco(readme_falco) -> None:
    """The README's falco.yaml and rule in real Falco, which has no routine thread pool: the
    SDK runs the routine on its own thread, five times, one alert each."""
    run = readme_falco(HERE, options=["-M", "2"])
    assert run.ok, run.error
    assert run.outputs() == [f'sweep {{"sweeps": {n}}}' for n in range(1, 6)]
    assert {(a["rule"], a["source"]) for a in run.alerts} == {("Sweep done", "syscall")}


def test_sweeps_are_async_events(falco_build) -> None:
    cap = run(falco_build, {"interval_ms": 1, "max_sweeps": 3}, 300)
    assert cap.ok, cap.error_message + cap.stderr
    assert [json.loads(d) for d in cap.async_data("sweep")] == [{"sweeps": n} for n in (1, 2, 3)]
