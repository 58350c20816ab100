"""falco-plugin run as a runner: the live progress display on a terminal's stderr (and none
when stderr is not a terminal), the counts at the end, and --watch rebuilding and running
again when the plugin's files change."""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

PLUGINS = Path(__file__).resolve().parent / "plugins"
PACED = str(PLUGINS / "paced.py")
CLI = [sys.executable, "-m", "falco_plugin.cli"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_terminal(
    *args: str, timeout: float = 120, stdout_too: bool = False
) -> tuple[int, str, str]:
    """Runs the CLI with stderr on a pseudo-terminal and stdout on a pipe (or on the same
    terminal); returns the exit status, stdout and what the terminal received."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    stdout = slave if stdout_too else subprocess.PIPE
    proc = subprocess.Popen([*CLI, *args], stdout=stdout, stderr=slave, env=env, text=True)
    os.close(slave)
    terminal = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                terminal += chunk
            elif proc.poll() is not None:
                break
        stdout = proc.stdout.read() if proc.stdout is not None else ""
        rc = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rc, stdout, terminal.decode(errors="replace")


def test_progress_bar_on_a_terminal() -> None:
    rc, stdout, terminal = run_on_terminal("run", PACED, "--open-params", "12:60")
    assert rc == 0, terminal
    # the events on stdout, plain
    assert stdout.splitlines()[-1].endswith(" v1 12") and len(stdout.splitlines()) == 12
    assert "\x1b" not in stdout
    # the bar on the terminal: drawn, advancing with the source's progress, with its detail
    assert "━" in terminal and "\x1b[" in terminal
    text = ANSI.sub("", terminal)
    percents = {float(p) for p in re.findall(r"(\d+\.\d)%", text)}
    assert any(0 < p < 100 for p in percents), text
    assert re.search(r"\b\d+/12 events\b", text)
    # and gone at the end, replaced by the counts
    assert "-- paced: 12 events, end of stream in" in text


def test_events_and_display_share_one_terminal() -> None:
    """stdout on the display's terminal: the event lines are printed above the bar."""
    rc, _, terminal = run_on_terminal("run", PACED, "--open-params", "8:50", stdout_too=True)
    assert rc == 0, terminal
    text = ANSI.sub("", terminal)
    assert "━" in terminal
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines()]
    assert [line.split()[-1] for line in lines if re.match(r"\d+ \S+Z v1 \d+$", line)] == [
        str(i) for i in range(1, 9)
    ]
    assert "-- paced: 8 events, end of stream" in text


def test_no_display_when_stderr_is_not_a_terminal() -> None:
    proc = subprocess.run(
        [*CLI, "run", PACED, "--open-params", "6:40"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TERM": "xterm"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr and "━" not in proc.stderr
    assert "tick" not in proc.stdout and len(proc.stdout.splitlines()) == 6
    assert re.search(r"^-- paced: 6 events, end of stream in [\d.]+ s \([\d,]+ events/s\)$",
                     proc.stderr, re.M)  # fmt: skip


def test_no_progress_turns_the_display_off_on_a_terminal() -> None:
    rc, stdout, terminal = run_on_terminal("run", PACED, "--open-params", "6:40", "--no-progress")
    assert rc == 0, terminal
    assert "━" not in terminal and "\x1b[" not in terminal
    assert "-- paced: 6 events, end of stream" in terminal


def test_json_lines_carry_no_display_records() -> None:
    rc, stdout, terminal = run_on_terminal("run", PACED, "--open-params", "8:50", "--json")
    assert rc == 0, terminal
    records = [json.loads(line) for line in stdout.splitlines()]
    assert "━" in terminal  # the display was on
    assert not [r for r in records if "tick" in r]
    assert len([r for r in records if "evtnum" in r]) == 8
    assert [r["summary"]["events"] for r in records if "summary" in r] == [8]


def test_counts_at_the_end_name_the_filter_and_the_failures() -> None:
    countdown = str(Path(__file__).resolve().parent.parent / "examples/countdown/plugin.py")
    proc = subprocess.run(
        [*CLI, "run", countdown, "--open-params", "10", "--filter", "countdown.remaining > 3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 6
    assert re.search(r"^-- countdown: 10 events, end of stream in .*, 6 shown, 4 filtered out$",
                     proc.stderr, re.M)  # fmt: skip


# ---- --watch ----


class Watching:
    """falco-plugin run --watch in the background, its stdout and stderr read by lines (a
    thread each, into queues)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "run", "--watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.queues: dict[str, queue.Queue[str]] = {"out": queue.Queue(), "err": queue.Queue()}
        self.err: list[str] = []
        for name, pipe in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._read, args=(pipe, self.queues[name]), daemon=True).start()

    @staticmethod
    def _read(pipe: IO[str], lines: queue.Queue[str]) -> None:
        for line in pipe:
            lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, stream: str = "err", timeout: float = 90) -> str:
        """Reads lines of ``stream`` until one matches (search) ``pattern``; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queues[stream].get(timeout=0.5)
            except queue.Empty:
                continue
            if stream == "err":
                self.err.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; stderr so far: {self.err}")

    def rest(self, stream: str) -> list[str]:
        """The lines not read yet (once the process has ended)."""
        lines = []
        while True:
            try:
                lines.append(self.queues[stream].get(timeout=1))
            except queue.Empty:
                return lines

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    tmp = path.with_suffix(".tmp")  # as editors save: a new file renamed over the old one
    tmp.write_text(text.replace(old, new))
    os.replace(tmp, path)


def test_watch_reruns_when_the_run_ended(tmp_path: Path) -> None:
    plugin = tmp_path / "paced.py"
    shutil.copy(PACED, plugin)
    w = Watching(str(plugin), "--open-params", "3:10")
    try:
        assert w.wait_for(r" v1 3$", "out")
        w.wait_for(r"^-- paced: 3 events, end of stream")
        w.wait_for(r"^-- watching .*\(Ctrl-C to stop\)")
        # a static fact changes too (the version): the library must be rebuilt, or init
        # would fail with "rebuild the plugin"
        edit(plugin, 'LABEL = "v1"', 'LABEL = "v2"')
        edit(plugin, 'VERSION = "0.1.0"', 'VERSION = "0.2.0"')
        w.wait_for(r"^-- paced\.py changed: building and running again")
        assert w.wait_for(r" v2 3$", "out")
        w.wait_for(r"^-- paced: 3 events, end of stream")
    finally:
        rc = w.stop()
    assert rc == 130
    stderr = w.err + w.rest("err")
    assert not [line for line in stderr if "rebuild the plugin" in line or "error" in line]


def test_watch_stops_a_run_under_way_and_survives_a_broken_edit(tmp_path: Path) -> None:
    plugin = tmp_path / "paced.py"
    shutil.copy(PACED, plugin)
    w = Watching(str(plugin), "--open-params", "0:20")  # never ends
    try:
        w.wait_for(r" v1 5$", "out")
        edit(plugin, 'LABEL = "v1"', 'LABEL = "v1"\ndef broken(:')
        w.wait_for(r"^-- paced: \d+ events, stopped")
        w.wait_for(r"^-- falco-plugin: importing .*paced.py failed: SyntaxError")
        w.wait_for(r"^-- watching ")
        edit(plugin, 'LABEL = "v1"\ndef broken(:', 'LABEL = "v3"')
        w.wait_for(r" v3 5$", "out")  # a new run: its events count from 1 again
    finally:
        rc = w.stop()
    assert rc == 130
    assert [line for line in w.rest("err") if re.match(r"-- paced: \d+ events, stopped", line)]


def test_watch_of_nothing_to_watch_says_so() -> None:
    proc = subprocess.run(
        [*CLI, "run", "--watch", "no_such_module_here:Plugin"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--watch found no files of the plugin to watch" in proc.stderr


@pytest.fixture(autouse=True)
def _no_display_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich reads these: a test must not depend on the developer's terminal settings."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


def test_host_reports_captures_under_way(falco_build) -> None:
    """The host's --progress-every: a tick per interval with the events so far and the
    source's progress, from the start of the capture; none without it."""
    from falco_plugin.host import parse_json_lines, run_host

    lib = str(falco_build(PACED))
    proc = run_host(["run", "--json", "--progress-every", "50", lib, "--open-params", "10:40"])
    assert proc.returncode == 0, proc.stderr
    ticks = [r["tick"] for r in parse_json_lines(proc.stdout) if "tick" in r]
    assert ticks[0] == {"plugin": "paced", "events": 0, "pct": 0, "text": "0/10 events"}
    assert len(ticks) >= 3
    assert [t["events"] for t in ticks] == sorted(t["events"] for t in ticks)
    assert ticks[-1]["events"] > 0 and 0 < ticks[-1]["pct"] <= 10000
    assert all(t["text"] == f"{t['events']}/10 events" for t in ticks)
    plain = run_host(["run", "--json", lib, "--open-params", "3:1"])
    assert not [r for r in parse_json_lines(plain.stdout) if "tick" in r]


def test_a_closed_stdout_stops_the_run() -> None:
    """`falco-plugin run ... | head -2`: the reader leaves, the captures stop, no traceback."""
    countdown = str(Path(__file__).resolve().parent.parent / "examples/countdown/plugin.py")
    proc = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m falco_plugin.cli run {countdown} "
         "--open-params 1000000000 | head -2; echo rc=${PIPESTATUS[0]} >&2"],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert re.search(r"^-- countdown: \d+ events, stopped in", proc.stderr, re.M), proc.stderr
    assert "rc=141" in proc.stderr  # as a process that SIGPIPE ended


def test_counts_of_a_replayed_capture(tmp_path: Path) -> None:
    """A replayed capture's events name no plugin: the counts still say how many it showed."""
    from falco_plugin.event import Event, event_class
    from falco_plugin.event.capture import ThreadInfo, write_capture

    open_at = event_class("<openat")
    events = [
        Event(open_at(fd=3, dirfd=-100, name=name, flags=1, mode=0, dev=0, ino=0), tid=42,
              ts=1_700_000_000_000_000_000 + i).encode()
        for i, name in enumerate(["/etc/passwd", "/tmp/x", "/etc/shadow"])
    ]  # fmt: skip
    write_capture(tmp_path / "t.scap", events, threads=[ThreadInfo(tid=42, pid=42, comm="cat")])
    proc = subprocess.run(
        [*CLI, "run", "--capture", str(tmp_path / "t.scap"), "--filter", "fd.name startswith /etc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2
    assert re.search(r"^-- capture: 3 events, end of stream in .*, 2 shown, 1 filtered out$",
                     proc.stderr, re.M), proc.stderr  # fmt: skip
