"""What ``falco-plugin run`` shows while a capture runs and when it ends.

The events go to stdout, a line each (or the host's JSON lines with ``--json``). On stderr,
when stderr is a terminal, a live display follows each capture: a progress bar for a source
that reports its progress (``get_progress``), and for every source its events so far, their
rate and the time elapsed. Nothing of it is drawn when stderr is a file or a pipe, or with
``--no-progress``, so logs and redirected output stay plain. When the run ends, the counts
go to stderr: per capture its events, how it ended, time and rate, what the filter kept and
the failures the host counted.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

#: How often (ms) the host reports a capture under way while the display is on.
TICK_MS = 100


def wants_live_display(stream: TextIO, disabled: bool = False) -> bool:
    """True when ``stream`` (stderr) is a terminal and the display was not turned off."""
    try:
        return not disabled and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def same_terminal(a: TextIO, b: TextIO) -> bool:
    """Both streams write to one terminal (a line on one would garble a display on the
    other)."""
    try:
        return a.isatty() and b.isatty() and os.fstat(a.fileno()).st_rdev == os.fstat(
            b.fileno()
        ).st_rdev
    except (AttributeError, ValueError, OSError):
        return False


def event_line(event: dict[str, Any]) -> str:
    """One printed line per event: number, time and what %evt.plugininfo shows (or the
    --output line), then the --fields values."""
    ts = event.get("ts")
    when = format_ts(ts) if isinstance(ts, int) else "?"
    text = event.get("output", event.get("info"))
    if text is None and "name" in event and not event.get("async"):  # a capture's event
        text = f"{event['name']} tid={event.get('tid')}"
    if event.get("async"):
        data = bytes.fromhex(str(event.get("data_hex", ""))).decode(errors="replace")
        text = f"[async {event.get('name')}] {data}"
    line = f"{event.get('evtnum')} {when} {text if text is not None else ''}".rstrip()
    if "fields" in event and "output" not in event:
        pairs = " ".join(f"{k}={json.dumps(v)}" for k, v in event["fields"].items())
        line = f"{line} {pairs}"
    return line


def format_ts(ts: int) -> str:
    """Nanoseconds since the epoch as UTC text with nanoseconds."""
    import datetime as dt

    seconds, nanos = divmod(ts, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


@dataclass
class _Shown:
    events: int = 0
    async_events: int = 0


@dataclass
class RunView:
    """Takes the host's JSON records (``on_record``) and its messages (``on_message``) and
    shows them; ``live`` turns the display on. Use it as a context manager around the run,
    then :meth:`print_counts`."""

    json_lines: bool = False
    live: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    shown: dict[str, _Shown] = field(default_factory=dict)
    errors: int = 0
    _progress: Progress | None = None
    _tasks: dict[str, TaskID] = field(default_factory=dict)
    _through_display: bool = False
    #: Called once when stdout is closed by its reader (``run ... | head``): the run stops.
    on_closed_output: Callable[[], None] = lambda: None
    output_closed: bool = False

    def __enter__(self) -> RunView:
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[percent]}"),
                TextColumn("{task.fields[events]} events ({task.fields[rate]}/s)"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(file=self.err),
                transient=True,
            )
            # stdout on the same terminal: its lines are printed above the display
            self._through_display = same_terminal(self.out, self.err)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # ---- output ----

    def _print(self, text: str, stream: TextIO) -> None:
        if self.output_closed and stream is self.out:
            return
        if self._progress is not None and (stream is self.err or self._through_display):
            self._progress.console.print(Text(text), soft_wrap=True, highlight=False)
            return
        try:
            stream.write(text + "\n")
            stream.flush()
        except BrokenPipeError:
            if stream is not self.out:
                raise
            # the reader is gone: no more output, no error at exit's flush, stop the run
            self.output_closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
            self.on_closed_output()

    def on_message(self, line: str) -> None:
        """A line the host writes to stderr (warnings, errors, the plugins' logs)."""
        self._print(line, self.err)

    def on_record(self, line: str) -> None:
        """A JSON line of the host: shown, counted, or fed to the display."""
        record = json.loads(line)
        if "tick" in record:
            self._tick(record["tick"])
            return
        if "summary" in record:
            self.summaries.append(record["summary"])
        elif "error" in record:
            self.errors += 1
        elif "evtnum" in record:
            # a replayed capture's events name no plugin: its summary calls it "capture"
            shown = self.shown.setdefault(str(record.get("plugin", "capture")), _Shown())
            if record.get("async"):
                shown.async_events += 1
            else:
                shown.events += 1
        if self.json_lines:
            self._print(line, self.out)
        elif "error" in record:
            err = record["error"]
            self._print(f"error ({err.get('stage')}): {err.get('message')}", self.err)
        elif "evtnum" in record:
            self._print(event_line(record), self.out)

    def _tick(self, tick: dict[str, Any]) -> None:
        if self._progress is None:
            return
        name = str(tick["plugin"])
        pct, text = tick.get("pct"), tick.get("text") or ""
        task = self._tasks.get(name)
        if task is None:
            task = self._progress.add_task(
                name, total=None, percent="", events=0, rate="0", detail=""
            )
            self._tasks[name] = task
        elapsed = self._progress.tasks[task].elapsed or 0.0
        events = int(tick["events"])
        fields: dict[str, Any] = {
            "events": f"{events:,}",
            "rate": f"{events / elapsed:,.0f}" if elapsed > 0 else "0",
            "detail": text,
        }
        if pct is not None:
            pct = min(int(pct), 10000)
            fields["percent"] = f"{pct / 100:.1f}%"
            self._progress.update(task, total=10000, completed=pct, **fields)
        else:
            self._progress.update(task, **fields)

    # ---- the end ----

    def count_lines(self) -> list[str]:
        """The counts of the run, a line per plugin that did something."""
        lines = []
        for s in self.summaries:
            parts = []
            shown = self.shown.get(str(s.get("plugin")), _Shown())
            if s.get("events") or s.get("eof") or s.get("capture_seconds"):
                end = "end of stream" if s.get("eof") else "stopped"
                parts.append(
                    f"{s.get('events', 0)} events, {end} in {s.get('capture_seconds', 0):.2f} s"
                    f" ({s.get('events_per_second', 0):,.0f} events/s)"
                )
                if s.get("filtered_out"):
                    parts.append(f"{shown.events} shown, {s['filtered_out']} filtered out")
            if s.get("extract_failures"):
                parts.append(f"{s['extract_failures']} failed extractions")
            if s.get("parse_calls"):
                failed = s.get("parse_failures") or 0
                parts.append(f"{s['parse_calls']} events parsed ({failed} failed)")
            if s.get("async_events") or s.get("async_refused"):
                parts.append(f"{s.get('async_events', 0)} async events")
                if s.get("async_refused"):
                    parts.append(f"{s['async_refused']} refused")
            if s.get("routine_calls"):
                parts.append(f"{s['routine_calls']} routine calls")
            if parts:
                lines.append(f"-- {s.get('plugin')}: " + ", ".join(parts))
        if self.errors:
            lines.append(f"-- {self.errors} error{'s' if self.errors > 1 else ''}")
        return lines

    def print_counts(self) -> None:
        """Writes the counts to stderr."""
        for line in self.count_lines():
            self._print(line, self.err)
