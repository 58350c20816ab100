"""The source capability through the real ABI: built .so files run in the SDK's C host.

Covers the Rust SDK's source test list (init ok, bad config message, schema rejection,
bad value rejected by the plugin, Eof, failing next_batch, batch sizes with every payload
checked) and the embedding rules (isolation, signals, several plugins, threads).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_plugin.testing import Capture, plugin_args, run_capture

ROOT = Path(__file__).resolve().parent.parent
COUNTDOWN = ROOT / "examples" / "countdown" / "plugin.py"
PLUGINS = Path(__file__).resolve().parent / "plugins"
PICKY = PLUGINS / "picky.py"


def expected(n: int) -> list[str]:
    return [f"{k} events remaining" for k in range(n - 1, -1, -1)]


@pytest.fixture(scope="module")
def countdown(falco_build) -> Path:
    return falco_build(str(COUNTDOWN))


@pytest.fixture(scope="module")
def picky(falco_build) -> Path:
    return falco_build(str(PICKY))


@pytest.fixture(scope="module")
def faulty(falco_build) -> Path:
    return falco_build(str(PLUGINS / "faulty.py"))


def test_picky_init_ok_and_eof(picky: Path) -> None:
    cap = run_capture(picky, config="testing")
    assert cap.ok, cap.stderr
    assert cap.events == []
    assert cap.summaries[0]["eof"] is True


def test_picky_bad_config_message(picky: Path) -> None:
    cap = run_capture(picky, config="nope")
    assert cap.returncode == 1
    assert 'I only accept "testing" as the config string' in cap.error_message


def test_picky_set_config_is_checked_too(picky: Path) -> None:
    ok = run_capture([plugin_args(picky, "testing", set_config="testing")])
    assert ok.ok, ok.error_message
    bad = run_capture([plugin_args(picky, "testing", set_config="other")])
    assert bad.returncode == 1 and "I only accept" in bad.error_message


def test_countdown_default_ten_events(countdown: Path) -> None:
    cap = run_capture(countdown)
    assert cap.ok, cap.stderr
    assert cap.texts == expected(10)
    assert cap.infos == expected(10)  # event_to_string, i.e. %evt.plugininfo
    assert [e["evtnum"] for e in cap.events] == list(range(1, 11))
    assert all(e["type"] == 322 and e["plugin_id"] == 999 for e in cap.events)
    assert all(e["source"] == "countdown" for e in cap.events)
    assert cap.summaries[0]["eof"] is True


@pytest.mark.parametrize("batch_size", [1, 10, 100, 1000])
def test_countdown_batch_sizes_every_payload(countdown: Path, batch_size: int) -> None:
    n = 2345
    cap = run_capture(countdown, config=json.dumps({"batch_size": batch_size}), open_params=str(n))
    assert cap.ok, cap.error_message
    assert cap.texts == expected(n)
    # the host stamped each event (ts "now" in the plugin) with a real, ordered time
    stamps = [e["ts"] for e in cap.events]
    assert stamps == sorted(stamps) and stamps[0] > 1_600_000_000 * 10**9
    calls = -(-n // batch_size)
    assert cap.summaries[0]["timeouts"] == 0
    assert cap.metrics[0]["items"] == [
        {"name": "events_emitted", "type": "monotonic", "value_type": "u64", "value": n}
    ]
    assert cap.progress[0]["pct"] == 10000 and cap.progress[0]["text"] == f"{n}/{n} events"
    assert calls >= 1


def test_countdown_zero_events(countdown: Path) -> None:
    cap = run_capture(countdown, open_params="0")
    assert cap.ok and cap.events == [] and cap.summaries[0]["eof"]


def test_countdown_config_rejected_by_schema(countdown: Path) -> None:
    cap = run_capture(countdown, config='{"batch_size": "big"}')
    assert cap.returncode == 1
    assert "batch_size" in cap.error_message
    cap = run_capture(countdown, config='{"unknown": 1}')
    assert cap.returncode == 1 and "unknown" in cap.error_message


def test_countdown_bad_value_rejected_by_plugin(countdown: Path) -> None:
    cap = run_capture(countdown, config='{"batch_size": 0}')
    assert cap.returncode == 1
    assert "batch_size must be at least 1, got 0" in cap.error_message


def test_countdown_bad_open_params(countdown: Path) -> None:
    cap = run_capture(countdown, open_params="many")
    assert cap.returncode == 1
    assert "open params must be a number of events, got 'many'" in cap.error_message


def test_failing_next_batch_propagates_its_message(faulty: Path) -> None:
    cap = run_capture(faulty, config='{"fail_in": "next_batch"}')
    assert cap.returncode == 1
    assert "RuntimeError: boom in next_batch" in cap.error_message
    assert "faulty.py" in cap.error_message  # where it was raised


ENTRY_POINTS_FATAL = ["init", "open", "next_batch", "set_config"]
ENTRY_POINTS_LOGGED = ["event_to_string", "get_progress", "get_metrics", "close", "destroy"]


@pytest.mark.parametrize("kind", ["runtime", "exit", "keyboard", "base"])
@pytest.mark.parametrize("where", ENTRY_POINTS_FATAL)
def test_exceptions_in_failing_entry_points(faulty: Path, where: str, kind: str) -> None:
    config = json.dumps({"fail_in": where, "kind": kind})
    args = plugin_args(faulty, config, set_config=config if where == "set_config" else None)
    cap = run_capture([args])
    assert cap.returncode == 1, cap.stdout
    assert f"boom in {where}" in cap.error_message
    # the host was not killed: it reported the error and finished its own cleanup
    assert "Traceback" not in cap.stdout


@pytest.mark.parametrize("kind", ["runtime", "exit", "base"])
@pytest.mark.parametrize("where", ENTRY_POINTS_LOGGED)
def test_exceptions_in_other_entry_points_are_logged(faulty: Path, where: str, kind: str) -> None:
    cap = run_capture(faulty, config=json.dumps({"fail_in": where, "kind": kind}))
    assert cap.returncode == 0, cap.error_message
    assert len(cap.events) == 3
    assert f"{where} failed" in cap.stderr and f"boom in {where}" in cap.stderr
    if where == "event_to_string":
        assert cap.infos == [None, None, None]  # NULL: the host falls back to its own text
    else:
        assert cap.infos == ["ok: event 1", "ok: event 2", "ok: event 3"]


def test_info_lists_open_params(faulty: Path) -> None:
    from falco_plugin.host import run_host

    info = json.loads(run_host(["info", "--json", str(faulty)]).stdout)
    assert info["open_params"] == [{"value": "x", "desc": "an x"}]


def test_events_before_a_failure_are_not_delivered_as_success(faulty: Path) -> None:
    cap = run_capture(faulty, config='{"fail_in": "next_batch", "events_before_failure": 2}')
    assert cap.returncode == 1 and "boom in next_batch" in cap.error_message


def test_signal_disposition_is_kept(faulty: Path) -> None:
    # the host checks its SIGINT handler after every init (its own tests show the check
    # catches a C plugin that changes it): the interpreter start does not take it ...
    assert run_capture(faulty).ok
    # ... and a plugin cannot: Python's signal module refuses inside plugins (a change
    # through C is undone after the call: tests/test_signals.py)
    cap = run_capture(faulty, config='{"touch_signals": true}')
    assert cap.returncode == 1
    assert "signal.signal() is refused inside a Falco plugin" in cap.error_message
    assert "(at faulty.py:" in cap.error_message  # where the plugin called it


def test_python_environment_variables_are_ignored(falco_build, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "pwned"
    (evil / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    (evil / "evil_module.py").write_text("")
    lib = falco_build(str(PLUGINS / "envprobe.py"))
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(evil),
        "PYTHONHOME": str(tmp_path / "no-such-home"),
        "PYTHONSTARTUP": str(evil / "sitecustomize.py"),
        "PYTHONINSPECT": "1",
    }
    cap = run_capture(lib, env=env)
    assert cap.ok, cap.error_message + cap.stderr
    report = json.loads(cap.texts[0])
    assert report["isolated"] == 1 and report["ignore_environment"] == 1
    assert str(evil) not in report["sys_path"]
    assert "" not in report["sys_path"]  # no current directory
    assert report["sigint_is_default_int_handler"] is False
    assert not marker.exists()


def test_two_python_plugins_in_one_host(countdown: Path, picky: Path, falco_build) -> None:
    pushy = falco_build(str(PLUGINS / "pushy.py"))
    cap = run_capture(
        [
            plugin_args(countdown, open_params="50"),
            plugin_args(picky, "testing"),
            plugin_args(pushy, open_params="30"),
        ]
    )
    assert cap.ok, cap.error_message
    by_plugin: dict[str, list[str]] = {}
    for e in cap.events:
        by_plugin.setdefault(e["plugin"], []).append(bytes.fromhex(e["payload_hex"]).decode())
    assert by_plugin["countdown"] == expected(50)
    assert by_plugin["pushy"] == [f"{i} from producer" for i in range(30)]
    assert "picky" not in by_plugin
    assert len(cap.summaries) == 3


def test_background_thread_runs_between_calls(falco_build) -> None:
    cap = run_capture(falco_build(str(PLUGINS / "pushy.py")), open_params="15")
    assert cap.ok, cap.error_message
    # every event was made by the plugin's own Python thread while the host's event thread
    # kept calling next_batch; the producer is slower than the 20 ms wait, so the host also
    # got timeouts in between, i.e. the producer ran while no API call was in progress
    assert cap.texts == [f"{i} from producer" for i in range(15)]
    assert cap.summaries[0]["timeouts"] >= 1


@pytest.mark.parametrize(
    "option", [["--cycles", "3"], ["--cycles", "3", "--reload"], ["--deepbind"]]
)
def test_reinit_reload_and_deepbind(countdown: Path, option: list[str]) -> None:
    cap = run_capture([plugin_args(countdown, open_params="5")], options=option)
    assert cap.ok, cap.error_message
    cycles = int(option[1]) if option[0] == "--cycles" else 1
    assert cap.texts == expected(5) * cycles


def test_several_states_of_one_library(countdown: Path) -> None:
    cap = run_capture([plugin_args(countdown, open_params="5")], options=["--inits", "3"])
    assert cap.ok, cap.error_message
    assert cap.texts == expected(5)


def capture_summary(cap: Capture) -> dict[str, object]:
    return cap.summaries[0]


def test_init_figures_are_reported(countdown: Path) -> None:
    summary = capture_summary(run_capture(countdown))
    assert float(summary["init_ms"]) > 0  # type: ignore[arg-type]
    assert int(summary["rss_kb_after_init"]) > 0  # type: ignore[call-overload]


def test_timeout_with_events_and_explicit_ts(falco_build) -> None:
    cap = run_capture(falco_build(str(PLUGINS / "ticks.py")))
    assert cap.ok, cap.error_message
    assert cap.texts == ["round 1", "round 2", "round 3"]
    assert [e["ts"] for e in cap.events] == [1001, 1002, 2**64 - 2]  # given ts kept, not stamped
    assert cap.summaries[0]["timeouts"] == 3 and cap.summaries[0]["eof"] is True
