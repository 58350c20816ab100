"""Lifetimes around destroy and reload (issue 10, item 6), and what states report from
several threads (item 8).

- Routines on the host's pool are unsubscribed at capture_close and at destroy: the host
  never calls a routine of a destroyed state.
- Exported tables refuse calls once their plugin state is destroyed, for as long as the
  host or other plugins may hold them (never freed memory behind their pointers).
- A host thread that called into a plugin and exited leaves no Python thread state behind
  (Falco starts new event threads at every reload).

The minimal host ``tests/lifetimes_host.c`` does what the SDK host never does around a
destroy; the sanitizer job runs the same tests under ASan+UBSan.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from falco_plugin.testing import plugin_args, run_capture
from tests.chost import compile_test_host

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLUGINS = HERE / "plugins"


@pytest.fixture(scope="module")
def lifetimes_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lifetimes") / "lifetimes_host"
    return compile_test_host(HERE / "lifetimes_host.c", out)


def run_host(host: Path, mode: str, lib: Path, cycles: int) -> dict[str, int]:
    proc = subprocess.run(
        [str(host), mode, str(lib), str(cycles)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_exported_tables_refuse_calls_after_destroy(lifetimes_host: Path, falco_build) -> None:
    lib = falco_build(str(PLUGINS / "table_exporter.py"))
    got = run_host(lifetimes_host, "tables", lib, 3)
    assert got == {"cycles": 3, "tables": 6, "failures": 0}


def test_destroy_unsubscribes_live_routines(lifetimes_host: Path, falco_build) -> None:
    lib = falco_build(str(PLUGINS / "lingering.py"))
    got = run_host(lifetimes_host, "routines", lib, 3)
    assert got["subscribed"] == 9 and got["calls"] > 0
    assert got["calls_after_destroy"] == 0 and got["failures"] == 0


def test_each_state_logs_to_its_own_host_logger(lifetimes_host: Path, falco_build) -> None:
    """Issue 10, item 8: not to the most recently attached one, and never to a destroyed
    state's (the plugin's thread goes on logging after destroy)."""
    lib = falco_build(str(PLUGINS / "chatty.py"))
    got = run_host(lifetimes_host, "logs", lib, 2)
    assert got["messages"] > 0 and got["failures"] == 0


def test_last_error_is_whole_and_per_thread(lifetimes_host: Path, falco_build) -> None:
    """Issue 10, item 8: errors of a state's exported tables, written from two threads while
    the host reads get_last_error from a third: no torn message, each thread its own."""
    lib = falco_build(str(PLUGINS / "table_exporter.py"))
    got = run_host(lifetimes_host, "errors", lib, 3000)
    assert got["reads"] > 0 and got["torn"] == 0 and got["not_own"] == 0


@pytest.mark.parametrize("unsubscribe", [False, True], ids=["left", "unsubscribed"])
def test_capture_close_unsubscribes_live_routines(falco_build, unsubscribe: bool) -> None:
    countdown = falco_build(str(ROOT / "examples" / "countdown" / "plugin.py"))
    lingering = falco_build(str(PLUGINS / "lingering.py"))
    config = json.dumps({"routines": 3, "unsubscribe": unsubscribe, "calls_before_close": 1})
    cap = run_capture(
        [plugin_args(countdown, open_params="20"), plugin_args(lingering, config)],
        options=["--routine-threads", "2", "--cycles", "3", "--reload"],
    )
    assert cap.ok, cap.error_message + cap.stderr
    assert "still subscribed" not in cap.stderr  # the SDK host's warning for a leftover
    calls = [s["routine_calls"] for s in cap.summaries if "routine_calls" in s]
    assert len(calls) == 3 and all(c > 0 for c in calls)


def test_exited_host_threads_leave_no_thread_state(falco_build) -> None:
    """The SDK host runs each capture cycle on a new thread that exits after it."""
    lib = falco_build(str(PLUGINS / "tstates.py"))
    cap = run_capture([plugin_args(lib, open_params="1")], options=["--cycles", "6"])
    assert cap.ok, cap.error_message + cap.stderr
    counts = [int(t.split()[1]) for t in cap.texts]
    assert len(counts) == 6
    assert counts[-1] == counts[0], counts  # not one more per exited thread


def test_falco_reloads_leave_no_thread_state(falco_build, falco_realhost: Path) -> None:
    """Falco runs each event source on a thread of its own when there are several, and its
    reload (SIGHUP) stops those threads and starts new ones."""
    from falco_plugin.realhost import FalcoPlugin, falco_config

    lib = falco_build(str(PLUGINS / "tstates.py"))
    other = FalcoPlugin(falco_build(str(PLUGINS / "sigtaker.py")), {"how": "none", "events": 0})
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(
            "- rule: count\n  desc: count\n  condition: evt.num > 0\n"
            "  output: 'states=%evt.plugininfo'\n  priority: INFO\n  source: tstates\n"
        )
        config = Path(tmp) / "falco.yaml"
        plugin = FalcoPlugin(lib, open_params="0")
        entries = falco_config([plugin, other], [str(rules)], falco_realhost)
        config.write_text(json.dumps(entries))
        falco = subprocess.Popen(
            [str(falco_realhost / "bin/falco"), "-c", str(config), "--disable-source", "syscall"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert falco.stdout is not None
        # thread states by count of inits; Falco's reload checks the config first (one init
        # more, while the old event threads still run): a run counts once it made 5 events
        states: dict[int, list[int]] = {}
        settled: list[int] = []
        last_reload = 0
        deadline = time.monotonic() + 90
        try:
            for line in falco.stdout:
                if time.monotonic() > deadline:
                    break
                if not line.startswith("{"):
                    continue
                inits, count = map(int, json.loads(line)["output"].rsplit("=", 1)[1].split())
                seen = states.setdefault(inits, [])
                seen.append(count)
                if len(seen) == 5 and inits > last_reload:
                    settled.append(count)
                    if len(settled) == 4:
                        break
                    last_reload = max(states)
                    falco.send_signal(signal.SIGHUP)
        finally:
            falco.terminate()
            falco.wait(timeout=30)
    assert len(settled) == 4, states
    assert max(settled) == min(settled), states  # not one more per reload
