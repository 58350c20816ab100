"""A plugin cannot take the host's signals after init either (issue 10, item 5).

Falco stops on SIGTERM and reloads on SIGHUP through its own handlers. Inside plugins,
Python's signal module refuses to change them (a clear error), and the shim puts back any
disposition a call on the host's main thread changed through C (a warning in the log).
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from falco_plugin.testing import run_capture

PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="module")
def sigtaker(falco_build) -> Path:
    return falco_build(str(PLUGINS / "sigtaker.py"))


def test_python_signal_changes_are_refused(sigtaker: Path) -> None:
    cap = run_capture(sigtaker, config=json.dumps({"how": "python"}))
    assert cap.returncode == 1
    assert "signal.signal() is refused inside a Falco plugin" in cap.error_message


def test_a_plugin_that_catches_the_refusal_goes_on(sigtaker: Path) -> None:
    cap = run_capture(sigtaker, config=json.dumps({"how": "python-caught"}))
    assert cap.ok, cap.error_message
    assert len(cap.texts) == 3 and cap.texts[0].startswith("refused: signal.signal()")


def test_every_python_setter_is_refused(sigtaker: Path) -> None:
    """signal.signal, siginterrupt, set_wakeup_fd, alarm and setitimer, through signal (first
    imported by the plugin, after the refusals were installed) and _signal."""
    cap = run_capture(sigtaker, config=json.dumps({"how": "python-all"}))
    assert cap.ok, cap.error_message
    names = ("signal", "siginterrupt", "set_wakeup_fd", "alarm", "setitimer")
    expected = [f"{m}.{n}" for m in ("signal", "_signal") for n in names]
    assert cap.texts[0] == "refused: " + " ".join(expected)


def test_a_change_through_c_in_open_is_undone_and_logged(sigtaker: Path) -> None:
    cap = run_capture(sigtaker, config=json.dumps({"how": "c"}))
    assert cap.ok, cap.error_message
    assert "plugin open changed the handler of signal 15" in cap.stderr


@pytest.mark.parametrize("how", ["python-caught", "c"])
def test_falco_still_stops_on_sigterm(sigtaker: Path, falco_realhost: Path, how: str) -> None:
    from falco_plugin.realhost import FalcoPlugin, falco_config

    plugin = FalcoPlugin(sigtaker, {"how": how, "events": 0})
    with tempfile.TemporaryDirectory() as tmp:
        rules_file = Path(tmp) / "rules.yaml"
        rules_file.write_text(
            "- rule: any\n  desc: any\n  condition: evt.num > 0\n  output: '%evt.plugininfo'\n"
            "  priority: INFO\n  source: sigtaker\n"
        )
        config = Path(tmp) / "falco.yaml"
        config.write_text(json.dumps(falco_config([plugin], [str(rules_file)], falco_realhost)))
        falco = subprocess.Popen(
            [str(falco_realhost / "bin/falco"), "-c", str(config), "--disable-source", "syscall"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert falco.stdout is not None
        first = falco.stdout.readline()  # the source is open: open() has run
        assert first.startswith("{"), first
        falco.send_signal(signal.SIGTERM)
        try:
            rc = falco.wait(timeout=20)
        except subprocess.TimeoutExpired:
            falco.kill()
            falco.wait()
            pytest.fail(f"Falco ignored SIGTERM after the plugin's open ({how})")
        finally:
            falco.stdout.close()
            assert falco.stderr is not None
            falco.stderr.close()
    assert rc == 0
