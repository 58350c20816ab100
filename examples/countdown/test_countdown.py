"""The countdown plugin: the CLI's ten lines, the host run, and plain-Python calls."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from falco_plugin import Eof, EventBatch, PluginError
from falco_plugin.loader import PluginRef, import_module
from falco_plugin.unit import check_supplied

PLUGIN = str(Path(__file__).with_name("plugin.py"))


def test_cli_run_prints_the_ten_expected_lines() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "falco_plugin.cli", "run", PLUGIN],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 10
    for i, line in enumerate(lines):
        match = re.fullmatch(r"(\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)", line)
        assert match, line
        assert int(match[1]) == i + 1
        assert match[3] == f"{9 - i} events remaining"
    assert "counting down from 10" in proc.stderr  # the plugin's log, through the host


def test_progress_and_metric(falco_capture) -> None:
    cap = falco_capture(PLUGIN, open_params="7", config='{"batch_size": 3}')
    assert cap.ok
    assert cap.texts == [f"{k} events remaining" for k in range(6, -1, -1)]
    assert cap.progress[0]["pct"] == 10000
    assert cap.metrics[0]["items"][0]["value"] == 7


def test_in_process_batches() -> None:
    module = import_module(PluginRef.parse(PLUGIN))
    plugin = module.Countdown(module.CountdownConfig(batch_size=2))
    instance = plugin.open("3")
    first = EventBatch()
    instance.next_batch(first)
    assert first.payloads() == [b"2 events remaining", b"1 events remaining"]
    assert first.supplied == [{"countdown.remaining": 2}, {"countdown.remaining": 1}]
    check_supplied(plugin, first)  # the supplied values are what the field's method says
    last = EventBatch()
    with pytest.raises(Eof):
        instance.next_batch(last)
    assert last.payloads() == [b"0 events remaining"]
    with pytest.raises(PluginError):
        plugin.open("-1")


def test_fields_filter_and_output(falco_capture) -> None:
    cap = falco_capture(
        PLUGIN,
        open_params="10",
        fields=["countdown.remaining", "countdown.divisible[4]"],
        filter="countdown.divisible[4] = true",
        output="%countdown.text",
    )
    assert cap.ok, cap.error_message
    assert cap.fields == [
        {"countdown.remaining": k, "countdown.divisible[4]": True} for k in (8, 4, 0)
    ]
    assert [e["output"] for e in cap.events] == [f"{k} events remaining" for k in (8, 4, 0)]


def test_readme_rule_fires_in_real_falco(readme_falco) -> None:
    """The README's falco.yaml and rule, in the real Falco: one alert per multiple of 3."""
    run = readme_falco(Path(PLUGIN).parent)
    assert run.ok, run.stderr
    assert run.logged("Loaded plugin 'countdown@0.1.0'")
    expected = [k for k in range(99, -1, -1) if k % 3 == 0]
    assert [f["countdown.remaining"] for f in run.fields()] == expected
    assert run.outputs() == [f"{k} to go ({k} events remaining)" for k in expected]
    assert {a["rule"] for a in run.alerts} == {"Countdown at a multiple of three"}
    assert {a["source"] for a in run.alerts} == {"countdown"}
    assert run.logged("countdown: counting down from 100")  # the plugin's log, in Falco's
