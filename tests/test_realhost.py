"""falco_plugin.realhost: finding the real host, and running plugins in the real Falco."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from falco_plugin import realhost
from falco_plugin.realhost import FalcoPlugin, RealHostError, parse_alerts, parse_log, run_falco

DUMMY_RULE = """\
- rule: Every dummy event
  desc: test
  condition: evt.num > 0
  output: "n=%evt.num"
  priority: INFO
  source: dummy
"""


def test_prefix_unset_is_none_and_require_skips(monkeypatch) -> None:
    monkeypatch.delenv(realhost.ENV, raising=False)
    monkeypatch.delenv(realhost.REQUIRED_ENV, raising=False)
    assert realhost.prefix() is None
    with pytest.raises(pytest.skip.Exception, match=f"set {realhost.ENV}=PREFIX"):
        realhost.require()


def test_require_fails_when_the_real_host_is_required(monkeypatch) -> None:
    monkeypatch.delenv(realhost.ENV, raising=False)
    monkeypatch.setenv(realhost.REQUIRED_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="cannot run"):
        realhost.require()


def test_a_folder_without_the_binaries_is_an_error_not_a_skip(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(realhost.ENV, str(tmp_path))
    with pytest.raises(RealHostError, match="no executable bin/falco"):
        realhost.prefix()


def test_log_parsing_joins_continuations_and_splits_the_closing_error() -> None:
    stderr = (
        "Tue Dec 01 11:08:14 2026: Falco version: 0.44\n"
        "Tue Dec 01 11:08:15 2026: [libs]: \n"
        "n_evts:5\n"
        "n_drops:0\n"
        "Tue Dec 01 11:08:15 2026: closing inspectors\n"
        "Error: could not initialize plugin: bad\n"
    )
    assert parse_log(stderr) == [
        "Falco version: 0.44",
        "[libs]: \nn_evts:5\nn_drops:0",
        "closing inspectors",
        "Error: could not initialize plugin: bad",
    ]


def test_alert_parsing_skips_the_closing_stats() -> None:
    stdout = '{"rule": "r", "output": "x"}\nEvents detected: 1\n{"no": "rule"}\n'
    assert parse_alerts(stdout) == [{"rule": "r", "output": "x"}]


def test_reference_plugin_in_falco_with_its_rules_file(falco_realhost: Path) -> None:
    """The C++ dummy_c with its own rules file: name read from the library, a map config."""
    plugin = FalcoPlugin(
        falco_realhost / "out" / "libdummy_c_O2.so",
        {"jitter": 0},
        '{"start": 1, "maxEvents": 5}',
    )
    run = run_falco([plugin], falco_realhost / "out" / "dummy_c_rules.yaml")
    assert run.ok, run.stderr
    assert run.config["plugins"][0]["name"] == "dummy_c"
    assert [f["dummy.value"] for f in run.fields()] == [2, 3, 4, 5, 6]
    assert run.outputs() == [f"-> triggered (value={v})" for v in (2, 3, 4, 5, 6)]
    assert {a["priority"] for a in run.alerts} == {"Critical"}


def test_a_failing_init_is_reported_with_the_plugins_message(
    falco_realhost: Path, falco_build, root: Path
) -> None:
    library = falco_build(str(root / "tests" / "plugins" / "picky.py"))
    run = run_falco([FalcoPlugin(library, "other")], DUMMY_RULE.replace("dummy\n", "picky\n"))
    assert run.returncode != 0
    assert run.alerts == []
    assert "could not initialize plugin" in run.error
    assert 'I only accept "testing"' in run.error


def test_rules_as_text_path_and_list(falco_realhost: Path, tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(DUMMY_RULE.replace("Every dummy event", "From a file"))
    plugin = FalcoPlugin(
        falco_realhost / "out" / "libdummy_go.so", '{"jitter": 0}', '{"start": 1, "maxEvents": 3}'
    )
    # Falco fires only the first matching rule unless told otherwise
    run = run_falco([plugin], [DUMMY_RULE, str(rules)], options=["-o", "rule_matching=all"])
    assert run.ok, run.stderr
    per_rule = {rule: run.outputs(rule) for rule in ("Every dummy event", "From a file")}
    assert per_rule == {rule: ["n=1", "n=2", "n=3"] for rule in per_rule}


def test_options_reach_falco_and_a_timeout_kills_it(falco_realhost: Path) -> None:
    # dummy_c with 10^12 events does not end in time; -M stops it, a short timeout kills it
    plugin = FalcoPlugin(
        falco_realhost / "out" / "libdummy_c_O2.so", "{}", '{"maxEvents": 1000000000000}'
    )
    rule = DUMMY_RULE.replace("dummy\n", "dummy_c\n").replace("evt.num > 0", "evt.num = 0")
    run = run_falco([plugin], rule, options=["-M", "1"])
    assert run.ok, run.stderr
    with pytest.raises(realhost.FalcoTimeout) as info:
        run_falco([plugin], rule, timeout=1)
    assert info.value.run.returncode != 0
    assert info.value.run.logged("Opening 'dummy_c' source")


def test_unset_real_host_refuses_to_run(monkeypatch) -> None:
    monkeypatch.delenv(realhost.ENV, raising=False)
    with pytest.raises(RealHostError, match=realhost.ENV):
        run_falco([os.devnull], DUMMY_RULE)
