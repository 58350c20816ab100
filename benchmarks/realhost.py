"""Benchmarks in the real libsinsp and the real Falco, with the official C++ ``dummy_c`` and Go
``dummy`` plugins measured in the same run.

    FALCO_PLUGIN_REALHOST=PREFIX python benchmarks/run.py --realhost [--repeat R]
        [--scale F] [--no-instructions] [--json FILE] [--markdown FILE]
        [--only PART ...]

``--only`` runs some parts of the table alone (source, falco, extraction, tables, start,
async, events), e.g. ``--only start`` for the start rows.

PREFIX is a real-host install made with ``install.sh --dev`` (``bin/sinsp-example``,
``bin/falco``, ``out/libdummy_c_O2.so``, ``out/libdummy_go.so``, libsinsp's headers for the
``fp-sinsp`` driver). What each row runs:

- **source**: sinsp-example's performance mode (``-t``: no output, its own ``Time spent``
  over the read loop) reading N events of one plugin, optionally with a filter on a plugin
  field (every event runs the filter: one ``extract_fields`` call on a new event each).
  countdown and the dummy port at their default configs, countdown at its old default (4
  events per batch), a countdown-like source that fills batches of 64 with ``add_many``,
  with payloads formatted per event (an f-string: CPython's own cost), ready as bytes (what
  a plugin relaying data it received pays: the SDK's cost) or made in C by
  ``add_formatted``, and one that adds its events with ``fields=`` (the field a filter reads
  is then answered in C; per event, and as one column per batch, which the filter and Falco
  rows use) next to the same source whose filter calls the field's method.
- **Falco**: the real Falco (``falco_plugin.realhost.run_falco``) with one rule on a plugin
  field that every event evaluates and none matches; the wall time of the whole run (a
  field's method and a supplied field side by side).
- **extraction**: the ``fp-sinsp`` driver's ``--bench`` mode times libsinsp's extraction of
  one plugin field on every event, i.e. the first (uncached) call for a new event;
  ``bench_source.len`` (``len(event.payload)``) shows the SDK's own cost, the Python time
  minus dummy_c's time for its own ``dummy.value``.
- **tables**: the same driver on a capture file (written with ``falco_plugin.event.capture``:
  a process list and syscall events); a Python field and its C mirror
  (``c_reference/tables_ref.c``) look the event's thread up in libsinsp's own threads table
  and read ``comm``; a field returning the tid (no table) on the same capture shows what
  the call costs without them, and the difference what the lookup and read cost in Python.
- **event model**: typed decode and header walk of syscall events inside a plugin library
  (where ``falco_plugin.event`` uses the library's C event functions) and in plain Python
  (``benchmarks/events.py``), next to a C walker; instructions per event from callgrind
  (the decode row includes the walk).
- **start**: the driver's time from dlopen to a finished init, and the RSS it added.
- **async**: a plugin's emitting threads push events through Falco's own async handler as
  fast as Falco takes them (the plugin logs how many and how long), Python against a C
  emitter (``c_reference/async_ref.c``).

Times are the best of R rounds (each round runs every configuration once, so a slow spell of
this shared machine hits all alike). Instruction counts come from callgrind (stable where
times are not): per event, the difference of two runs of N1 and N2 events (start-up cancels
out); per API call, the inclusive count of ``plugin_next_batch`` / ``plugin_extract_fields``
/ ``plugin_init``. Callgrind cannot run Go: Go has no counts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import callgrind

from falco_plugin.build import build_cached
from falco_plugin.realhost import FalcoPlugin, prefix, run_falco, tool
from falco_plugin.sinsp import driver_binary, run_driver

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NATIVE = REPO / "src" / "falco_plugin" / "_native"


# ------------------------------------------------------------------------------ plugins


@dataclass(frozen=True)
class Plugin:
    """A plugin library with the config and open params of one benchmark row."""

    label: str
    lib: Path
    kind: str  # "py", "c" or "go"
    config: str = ""
    params: Callable[[int], str] = str  # open params for N events
    speed: float = 1.0  # events per run relative to the Python defaults (C is faster)

    def spec(self, n: int) -> str:
        """sinsp-example's ``-p`` argument."""
        return f"{self.lib}|{self.config}|{self.params(n)}"


def dummy_params(n: int) -> str:
    return json.dumps({"start": 1, "maxEvents": n})


#: bench_source supplying bench_source.remaining for its events: one column per batch
#: (add_many(payloads, fields={"bench_source.remaining": range})), or per event
SUPPLY = json.dumps({"batch_size": 128, "supply": True, "bulk": True})
SUPPLY_EACH = json.dumps({"batch_size": 128, "supply": True})


@dataclass
class Libraries:
    """Everything the benchmark loads, built or compiled once."""

    root: Path
    tmp: Path

    def __post_init__(self) -> None:
        out = self.root / "out"
        self.dummy_c = Plugin("C++ dummy_c", out / "libdummy_c_O2.so", "c", "", dummy_params, 4)
        self.dummy_go = Plugin("Go dummy", out / "libdummy_go.so", "go", "", dummy_params, 1)
        self.countdown = Plugin(
            "countdown", build_cached(str(REPO / "examples" / "countdown" / "plugin.py")), "py"
        )
        self.dummy_py = Plugin(
            "dummy (port)", build_cached(str(REPO / "examples" / "dummy" / "plugin.py")), "py",
            "", dummy_params,
        )  # fmt: skip
        self.bench_source = build_cached(str(HERE / "plugins" / "bench_source.py"))
        tables = HERE / "plugins" / "bench_tables.py"
        self.tables_py = build_cached(f"{tables}:BenchTablesSyscall")
        self.tables_c = self.compile(
            "tables_ref.c", "libtables_ref.so", "-std=c11", '-DTR_SOURCES="[\\"syscall\\"]"'
        )
        self.async_py = build_cached(str(HERE / "plugins" / "bench_async.py"))
        self.countdown_packaged = Plugin("countdown, packaged", self.package_countdown(), "py")
        self.async_c = self.compile("async_ref.c", "libasync_ref.so", "-lpthread")

    def warm_up(self) -> None:
        """Start every Python plugin once: the SDK's bytecode caches are written then, not
        during a measured run (a first start compiles the SDK's modules)."""
        for plugin in (self.countdown, self.dummy_py, self.countdown_packaged):
            driver_bench(plugin_args(plugin, 1))

    def package_countdown(self) -> Path:
        """countdown as ``falco-plugin package`` makes it, extracted: its Python, stdlib and
        SDK beside it, every file checked by digest at init."""
        import tarfile

        from falco_plugin.package import package

        made = package(str(REPO / "examples" / "countdown" / "plugin.py"),
                       self.tmp / "countdown.tar.gz")  # fmt: skip
        folder = self.tmp / "packaged"
        with tarfile.open(made.tarball) as tar:
            tar.extractall(folder, filter="data")
        return folder / "libcountdown.so"

    def compile(self, source: str, name: str, *flags: str) -> Path:
        """A C reference plugin, with the flags the shim gets."""
        out = self.tmp / name
        cc = shlex.split(os.environ.get("CC") or "cc")
        cmd = [*cc, "-O2", "-fPIC", "-shared", f"-I{NATIVE}", str(HERE / "c_reference" / source)]
        subprocess.run([*cmd, *flags, "-o", str(out)], check=True)
        return out


# ------------------------------------------------------------------------------ hosts


class BenchError(RuntimeError):
    """A benchmark run failed or gave a result that does not check out."""


def sinsp_example_cmd(root: Path, plugin: Plugin, n: int, filt: str | None) -> list[str]:
    cmd = [str(tool(root, "bin/sinsp-example")), "-t", "-p", plugin.spec(n)]
    return cmd + (["-f", filt] if filt else [])


def sinsp_rate(root: Path, plugin: Plugin, n: int, filt: str | None) -> float:
    """Events per second of sinsp-example's read loop (its own ``Time spent``)."""
    cmd = sinsp_example_cmd(root, plugin, n, filt)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    got = re.search(r"Retrieved events: (\d+)", proc.stdout)
    spent = re.search(r"Time spent: (\d+)ms", proc.stdout)
    if proc.returncode != 0 or not got or not spent or int(got.group(1)) != n:
        raise BenchError(f"{shlex.join(cmd)}: {proc.stdout[-600:]} {proc.stderr[-600:]}")
    return n / max(int(spent.group(1)), 1) * 1000


def driver_bench(args: Sequence[str]) -> dict[str, Any]:
    """The ``bench`` part of the driver's summary (``--bench``: timed extractions, starts)."""
    proc = run_driver(["--bench", *args], timeout=900)
    summary = None
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "error" in record:
            raise BenchError(f"fp-sinsp {shlex.join(args)}: {record['error']}")
        summary = record.get("summary", summary)
    if proc.returncode != 0 or summary is None:
        raise BenchError(f"fp-sinsp {shlex.join(args)}: {proc.stderr[-800:]}")
    return summary  # type: ignore[no-any-return]


def plugin_args(plugin: Plugin, n: int) -> list[str]:
    return [str(plugin.lib), "--config", plugin.config, "--open-params", plugin.params(n)]


def falco_wall(plugin: Plugin, n: int, condition: str, source: str) -> float:
    """Seconds of a whole Falco run over N events with one rule that matches none."""
    rule = (
        f"- rule: bench\n  desc: a plugin field on every event\n  condition: {condition}\n"
        f"  output: never\n  priority: INFO\n  source: {source}\n"
    )
    entry = FalcoPlugin(plugin.lib, init_config=plugin.config, open_params=plugin.params(n))
    start = time.perf_counter()
    run = run_falco([entry], rule, timeout=900)
    wall = time.perf_counter() - start
    if not run.ok or run.alerts:
        raise BenchError(f"Falco with {plugin.label}: rc {run.returncode}, {run.error}")
    return wall


_SENT = re.compile(r"sent (\d+) events in (\d+) ns, (\d+) back-offs")


def falco_async(lib: Path, count: int) -> tuple[float, int]:
    """Events/s one emitting thread pushes through Falco's async handler, and back-offs."""
    entry = FalcoPlugin(lib, init_config={"threads": 1, "count": count})
    rule = (
        "- rule: bench async\n  desc: every async event is evaluated\n"
        "  condition: evt.type = bench and evt.num = 0\n  output: never\n  priority: INFO\n"
    )
    run = run_falco([entry], rule, options=["-M", "3"], timeout=120)
    for line in run.log:
        found = _SENT.search(line)
        if found and int(found.group(1)) == count:
            return count / (int(found.group(2)) / 1e9), int(found.group(3))
    raise BenchError(f"async run of {lib.name}: no result in Falco's log: {run.log[-5:]}")


# ------------------------------------------------------------------------------ figures


@dataclass
class Cell:
    """One measured figure: best time (or rate) and instruction counts where known."""

    value: float | None = None
    instr: float | None = None  # per event (whole process) or per call
    call_instr: dict[str, float] = field(default_factory=dict)  # per API call

    def best(self, value: float, higher_is_better: bool) -> None:
        if self.value is None:
            self.value = value
        else:
            self.value = max(self.value, value) if higher_is_better else min(self.value, value)


class Rounds:
    """Configurations run round-robin, R rounds; keeps the best of each."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Cell, Callable[[], float], bool]] = []

    def add(self, fn: Callable[[], float], higher_is_better: bool = True) -> Cell:
        cell = Cell()
        self.jobs.append((cell, fn, higher_is_better))
        return cell

    def run(self, repeat: int) -> None:
        for round_ in range(repeat):
            for n, (cell, fn, higher) in enumerate(self.jobs):
                print(f"\r  round {round_ + 1}/{repeat}, run {n + 1}/{len(self.jobs)}  ",
                      end="", file=sys.stderr, flush=True)  # fmt: skip
                cell.best(fn(), higher)
        print("\r" + " " * 40 + "\r", end="", file=sys.stderr, flush=True)


def per_event_instructions(
    root: Path, plugin: Plugin, filt: str | None, n1: int, n2: int
) -> tuple[float, dict[str, float]]:
    """Instructions per event of the whole sinsp-example process (two runs, N1 and N2
    events, so that start-up cancels out), and per call of the plugin's API functions."""
    first = callgrind.profile(sinsp_example_cmd(root, plugin, n1, filt))
    second = callgrind.profile(sinsp_example_cmd(root, plugin, n2, filt))
    calls = {}
    for name in ("plugin_next_batch", "plugin_extract_fields"):
        value = second.per_call(name)
        if value is not None:
            calls[name] = value
    batches = second.calls.get("plugin_next_batch", 0)
    if batches:
        calls["events_per_batch"] = n2 / batches
    return (second.total - first.total) / (n2 - n1), calls


def call_instructions(args: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """Instructions per call of ``names`` in one driver run under callgrind."""
    prof = callgrind.profile([str(driver_binary()), "--bench", *args])
    out = {}
    for name in names:
        value = prof.per_call(name)
        if value is not None:
            out[name] = value
    return out


# ------------------------------------------------------------------------------ the table


@dataclass
class Row:
    title: str
    unit: str  # "Mev/s", "ns", "ms", "MB", "s"
    py: Cell
    c: Cell | None = None
    go: Cell | None = None
    target: str = ""
    check: Callable[[Row], bool | None] | None = None
    note: str = ""
    difference: tuple[Cell, Cell] | None = None  # py = first - second, after the rounds

    def ratio(self, other: Cell | None) -> float | None:
        """Python's figure against another, as "Python / other" for rates and "other /
        Python" for costs (above 1: Python is better either way)."""
        if other is None or other.value in (None, 0) or self.py.value in (None, 0):
            return None
        assert self.py.value is not None and other.value is not None
        if self.unit in ("Mev/s", "kev/s"):
            return self.py.value / other.value
        return other.value / self.py.value

    def ratio_text(self, other: Cell | None) -> str:
        """:meth:`ratio` as the tables show it, "" when there is none."""
        value = self.ratio(other)
        return "" if value is None else f"{value:.2f}"

    def verdict(self) -> bool | None:
        """Whether the row meets its target; None when it has none (or no figure)."""
        return self.check(self) if self.check else None


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "Mev/s":
        return f"{value / 1e6:.2f} M/s"
    if unit == "kev/s":
        return f"{value / 1e3:.0f} k/s"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.0f} ns"


def fmt_instr(cell: Cell | None) -> str:
    if cell is None or cell.instr is None:
        return ""
    if cell.instr >= 1e6:
        return f"{cell.instr / 1e6:.1f}M"
    return f"{cell.instr:,.0f}"


def print_table(rows: list[Row]) -> None:
    head = (f"{'run':<46}{'Python':>11}{'Ir':>8}{'C++':>11}{'Ir':>8}{'Go':>11}"
            f"{'Py/C++':>8}{'Py/Go':>7}  target")  # fmt: skip
    print(head)
    print("-" * len(head))
    for row in rows:
        verdict = row.verdict()
        mark = "" if verdict is None else (" ok" if verdict else " MISSED")
        print(
            f"{row.title:<46}{fmt(row.py.value, row.unit):>11}{fmt_instr(row.py):>8}"
            f"{fmt(row.c.value if row.c else None, row.unit):>11}{fmt_instr(row.c):>8}"
            f"{fmt(row.go.value if row.go else None, row.unit):>11}"
            f"{row.ratio_text(row.c):>8}{row.ratio_text(row.go):>7}  {row.target}{mark}"
        )
        if row.note:
            print(f"{'':<4}{row.note}")


def markdown_table(rows: list[Row]) -> str:
    """The table as the performance page shows it (Markdown), its notes below it."""

    def value(cell: Cell | None, unit: str) -> str:
        if cell is None or cell.value is None:
            return ""
        if unit == "ns" and cell.value >= 1000:
            return f"{cell.value / 1000:.2f} µs"
        return fmt(cell.value, unit).replace("M/s", "M ev/s").replace("k/s", "k ev/s")

    def instr(cell: Cell | None) -> str:
        text = fmt_instr(cell)
        return text[:-1] + " M" if text.endswith("M") else text

    lines = ["| run | Python | Ir | C++ / C | Ir | Go `dummy` | Python / C++ | Python / Go "
             "| target |", "|---|--:|--:|--:|--:|--:|--:|--:|---|"]  # fmt: skip
    notes = []
    for row in rows:
        verdict = row.verdict()
        target = row.target.replace(">=", "≥ ").replace("<=", "≤ ").replace(">Go", "> Go")
        if verdict is not None:
            target += ": met" if verdict else ": missed"
        cells = [row.title.replace("...", "…"), value(row.py, row.unit), instr(row.py),
                 value(row.c, row.unit), instr(row.c), value(row.go, row.unit),
                 row.ratio_text(row.c), row.ratio_text(row.go), target]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
        if row.note:
            notes.append(f"- {row.title.strip(' .…')}: {row.note}")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def ratio_at_least(minimum: float) -> Callable[[Row], bool | None]:
    def check(row: Row) -> bool | None:
        c, go = row.ratio(row.c), row.ratio(row.go)
        if c is None:
            return None
        return c >= minimum and (go is None or go > 1)

    return check


def at_most(limit: float) -> Callable[[Row], bool | None]:
    return lambda row: None if row.py.value is None else row.py.value <= limit


# ------------------------------------------------------------------------------ the run


@dataclass
class Options:
    repeat: int = 3
    scale: float = 1.0
    instructions: bool = True
    only: frozenset[str] = frozenset()  # the parts to run (PARTS), empty: all


#: the parts of the table, in order (``--only`` names some of them)
PARTS = ("source", "falco", "extraction", "tables", "start", "async", "events")


def source_rows(root: Path, libs: Libraries, opt: Options, rounds: Rounds) -> list[Row]:
    """sinsp-example rows: sources alone and with a filter on a plugin field."""
    n = int(2_000_000 * opt.scale)
    go_filtered = max(int(100_000 * opt.scale), 10_000)  # each call crosses into Go
    bench = libs.bench_source
    countdown4 = Plugin("countdown b4", libs.countdown.lib, "py", json.dumps({"batch_size": 4}))
    bulk64 = json.dumps({"batch_size": 64, "bulk": True, "format_payloads": True})
    bulk = Plugin("bench_source bulk 64", bench, "py", bulk64)
    reused64 = json.dumps({"batch_size": 64, "bulk": True, "format_payloads": False})
    reused = Plugin("bench_source bulk 64, bytes", bench, "py", reused64)
    method = Plugin("bench_source b128", bench, "py", json.dumps({"batch_size": 128}))
    supplied = Plugin("bench_source b128 supplied", bench, "py", SUPPLY)
    supplied_each = Plugin("bench_source b128 supplied each", bench, "py", SUPPLY_EACH)
    formatted64 = json.dumps({"batch_size": 64, "formatted": True})
    formatted = Plugin("bench_source add_formatted 64", bench, "py", formatted64)
    ref_filter = "dummy.value > 0"
    bench_filter = "bench_source.remaining >= 0"
    setups: list[tuple[str, Plugin, str | None, str, Callable[[Row], bool | None] | None]] = [
        ("source, default config: countdown (batch 128)", libs.countdown, None,
         ">=0.5 C++, >Go", ratio_at_least(0.5)),
        ("source, countdown at the old default (batch 4)", countdown4, None, "", None),
        ("source, default config: dummy port", libs.dummy_py, None, "", None),
        ("source, batch 64, add_many(): countdown-like", bulk, None, ">=0.7 C++, >Go",
         ratio_at_least(0.7)),
        ("source, batch 64, add_many(), bytes payloads", reused, None, ">=0.7 C++, >Go",
         ratio_at_least(0.7)),
        ("source, batch 64, add_formatted(): countdown-like", formatted, None,
         ">=0.7 C++, >Go", ratio_at_least(0.7)),
        ("source, batch 128, add(fields=) (supplied)", supplied_each, None, "", None),
        ("source, batch 128, add_many(fields=) (columns)", supplied, None, "", None),
        ("source + filter countdown.remaining >= 0", libs.countdown, "countdown.remaining >= 0",
         ">=0.5 C++, >Go", ratio_at_least(0.5)),
        ("source + filter dummy.value > 0: dummy port", libs.dummy_py, ref_filter,
         ">=0.5 C++, >Go", ratio_at_least(0.5)),
        ("source + filter, a field's method: bench_source", method, bench_filter,
         ">=0.5 C++, >Go", ratio_at_least(0.5)),
        ("source + filter, a supplied field: bench_source", supplied, bench_filter,
         ">=0.5 C++, >Go", ratio_at_least(0.5)),
    ]  # fmt: skip
    refs: dict[tuple[str, str | None], Cell] = {}

    def ref_cell(plugin: Plugin, filt: str | None) -> Cell:
        key = (plugin.label, filt)
        if key not in refs:
            events = n * 4 if plugin.kind == "c" else (go_filtered if filt else n)
            refs[key] = rounds.add(lambda: sinsp_rate(root, plugin, events, filt))
            if opt.instructions and plugin.kind == "c":
                refs[key].instr, refs[key].call_instr = per_event_instructions(
                    root, plugin, filt, 20_000, 60_000
                )
        return refs[key]

    rows = []
    for title, plugin, filt, target, check in setups:
        py = rounds.add(lambda p=plugin, f=filt: sinsp_rate(root, p, n, f))  # type: ignore[misc]
        if opt.instructions:
            py.instr, py.call_instr = per_event_instructions(root, plugin, filt, 20_000, 60_000)
        rf = ref_filter if filt else None
        rows.append(Row(title, "Mev/s", py, ref_cell(libs.dummy_c, rf), ref_cell(libs.dummy_go, rf),
                        target, check))  # fmt: skip
    return rows


def falco_rows(libs: Libraries, opt: Options, rounds: Rounds) -> list[Row]:
    n = int(3_000_000 * opt.scale)
    n_go = max(int(150_000 * opt.scale), 10_000)

    def rate(plugin: Plugin, events: int, cond: str, source: str) -> Cell:
        return rounds.add(lambda: events / falco_wall(plugin, events, cond, source))

    never = "dummy.value = 0"  # samples start at 1 and only grow
    c = rate(libs.dummy_c, n, never, "dummy_c")
    go = rate(libs.dummy_go, n_go, never, "dummy")
    bench_never = "bench_source.remaining > 1000000000000"
    method = Plugin("bench_source", libs.bench_source, "py", json.dumps({"batch_size": 128}))
    supplied = Plugin("bench_source supplied", libs.bench_source, "py", SUPPLY)
    return [
        Row(
            "Falco, rule on a plugin field: dummy port",
            "Mev/s",
            rate(libs.dummy_py, n, never, "dummy"),
            c,
            go,
            ">=0.5 C++, >Go",
            ratio_at_least(0.5),
            note=f"whole Falco runs of {n:,} events (start-up included), {n_go:,} for Go",
        ),
        Row(
            "Falco, rule on a plugin field: countdown",
            "Mev/s",
            rate(libs.countdown, n, "countdown.remaining > 1000000000000", "countdown"),
            c,
            go,
            ">=0.5 C++, >Go",
            ratio_at_least(0.5),
        ),
        Row("Falco, rule on a field's method: bench_source", "Mev/s",
            rate(method, n, bench_never, "bench_source"), c, go, ">=0.5 C++, >Go",
            ratio_at_least(0.5)),
        Row("Falco, rule on a supplied field: bench_source", "Mev/s",
            rate(supplied, n, bench_never, "bench_source"), c, go, ">=0.5 C++, >Go",
            ratio_at_least(0.5)),
    ]  # fmt: skip


def extraction_rows(libs: Libraries, opt: Options, rounds: Rounds) -> list[Row]:
    """The driver's timed extractions on new events."""
    n = int(500_000 * opt.scale)
    n_go = max(int(30_000 * opt.scale), 5_000)
    bench = Plugin("bench_source", libs.bench_source, "py", json.dumps({"batch_size": 64}))

    def ns(plugin: Plugin, fld: str, events: int) -> Cell:
        def one() -> float:
            res = driver_bench(["--field", fld, *plugin_args(plugin, events)])
            timing = res["bench"]["fields"][fld]
            if timing["values"] != events:
                raise BenchError(f"{fld}: {timing['values']} values for {events} events")
            return float(timing["ns_per_call"])

        cell = rounds.add(one, higher_is_better=False)
        if opt.instructions and plugin.kind != "go":
            calls = call_instructions(
                ["--field", fld, *plugin_args(plugin, 20_000)],
                ["plugin_extract_fields", "plugin_init"],
            )
            cell.instr = calls.get("plugin_extract_fields")
            cell.call_instr = calls
        return cell

    c = ns(libs.dummy_c, "dummy.value", n * 4)
    go = ns(libs.dummy_go, "dummy.value", n_go)
    sdk = ns(bench, "bench_source.len", n)
    supplied = Plugin("bench_source supplied", libs.bench_source, "py", SUPPLY)
    rows = [
        Row("extract on a new event: dummy.value (port)", "ns", ns(libs.dummy_py, "dummy.value", n),
            c, go),
        Row("extract on a new event: countdown.remaining", "ns",
            ns(libs.countdown, "countdown.remaining", n), c, go),
        Row("extract on a new event: bench_source.remaining, supplied", "ns",
            ns(supplied, "bench_source.remaining", n), c, go),
        Row("extract on a new event: len(event.payload)", "ns", sdk, c, go),
    ]  # fmt: skip
    rows.append(
        Row("  SDK's own cost (the row above - C++'s)", "ns", Cell(), target="<=150 ns",
            check=at_most(150), difference=(sdk, c)),
    )  # fmt: skip
    return rows


def write_thread_capture(path: Path, threads: int, events: int) -> None:
    """A capture of ``threads`` threads and ``events`` read exits spread over them (libsinsp
    drops enter events)."""
    from falco_plugin.event import Event, event_class
    from falco_plugin.event.capture import CaptureWriter, ThreadInfo

    t0 = 1_700_000_000_000_000_000
    infos = [
        ThreadInfo(tid=1000 + i, pid=1000 + i, ptid=1, comm=f"worker-{i}", exe="worker",
                   exepath="/usr/bin/worker", cwd="/", vtid=1000 + i, vpid=1000 + i)
        for i in range(threads)
    ]  # fmt: skip
    read = event_class("read", "<")(res=4, data=b"data", fd=3, size=64)
    with CaptureWriter(path, threads=infos) as writer:
        for k in range(events):
            writer.write(Event(read, ts=t0 + k, tid=1000 + (k * 7) % threads))


def table_rows(libs: Libraries, opt: Options, rounds: Rounds, tmp: Path) -> list[Row]:
    events = int(200_000 * opt.scale)
    capture = tmp / "threads.scap"
    write_thread_capture(capture, 64, events)

    def ns(lib: Path, fld: str) -> Cell:
        args = ["--capture", str(capture), "--field", fld, str(lib)]

        def one() -> float:
            timing = driver_bench(args)["bench"]["fields"][fld]
            if timing["values"] != events:
                raise BenchError(f"{fld}: {timing['values']} values for {events} events")
            return float(timing["ns_per_call"])

        cell = rounds.add(one, higher_is_better=False)
        if opt.instructions:
            cell.instr = call_instructions(args, ["plugin_extract_fields"]).get(
                "plugin_extract_fields"
            )
        return cell

    comm = ns(libs.tables_py, "bench_tables.comm_len")
    no_table = ns(libs.tables_py, "bench_tables.tid")
    return [
        Row("tables: thread lookup (libsinsp threads)", "ns",
            ns(libs.tables_py, "bench_tables.lookup"), ns(libs.tables_c, "tables_ref.lookup")),
        Row("tables: thread lookup + comm read", "ns", comm,
            ns(libs.tables_c, "tables_ref.comm_len"), target="<=300 ns", check=at_most(300)),
        Row("  ... a field reading no table (event.tid)", "ns", no_table),
        Row("  lookup + comm read alone (the two rows above)", "ns", Cell(),
            difference=(comm, no_table)),
    ]  # fmt: skip


def event_model_rows(opt: Options) -> list[Row]:
    """The event model inside a plugin library (its C event functions) and in this Python
    (the Python code, outside a plugin), next to a C walker."""
    import events  # benchmarks/events.py

    res = events.run(int(50_000 * opt.scale), max(opt.repeat, 3))
    ir = events.instructions() if opt.instructions else {}

    def cell(key: str) -> Cell:
        return Cell(1e9 / res[key], ir.get(key))

    c_decode, c_walk = Cell(1e9 / res["c_params"]), Cell(1e9 / res["c_headers"])
    return [
        Row("typed decode of a syscall event, in a plugin", "ns", cell("plugin_decode"),
            c_decode, target="<=1000 ns", check=at_most(1000)),
        Row("  ... in Python (outside a plugin)", "ns", cell("py_decode"), c_decode),
        Row("header walk, in a plugin", "ns", cell("plugin_headers"), c_walk,
            target="<=100 ns", check=at_most(100)),
        Row("  ... in Python (outside a plugin)", "ns", cell("py_headers"), c_walk),
    ]  # fmt: skip


def start_rows(libs: Libraries, rounds: Rounds, instructions: bool) -> list[Row]:
    def start(plugin: Plugin) -> tuple[Cell, Cell]:
        rss = Cell()

        def one() -> float:
            res = driver_bench(plugin_args(plugin, 1))["bench"]["plugins"]
            (facts,) = res.values()
            rss.best((facts["rss_kb_after"] - facts["rss_kb_before"]) / 1024, False)
            return float(facts["start_ns"]) / 1e6

        return rounds.add(one, higher_is_better=False), rss

    py_t, py_rss = start(libs.countdown)
    pkg_t, pkg_rss = start(libs.countdown_packaged)
    c_t, c_rss = start(libs.dummy_c)
    go_t, go_rss = start(libs.dummy_go)
    if instructions:
        for cell, plugin in ((py_t, libs.countdown), (pkg_t, libs.countdown_packaged),
                             (c_t, libs.dummy_c)):  # fmt: skip
            calls = call_instructions(plugin_args(plugin, 1), ["plugin_init"])
            cell.instr = calls.get("plugin_init")
    note = ("packaged: under callgrind SHA-256 runs in plain C (no SHA extensions), so its "
            "Ir count weighs the code digests far above their cost on the CPU")
    return [
        Row("plugin start, dlopen to finished init", "ms", py_t, c_t, go_t, "<=25 ms", at_most(25)),
        Row("  ... packaged (falco-plugin package)", "ms", pkg_t, c_t, go_t, "<=25 ms",
            at_most(25), note=note),
        Row("plugin start, RSS added", "MB", py_rss, c_rss, go_rss, "<=15 MB", at_most(15)),
        Row("  ... packaged", "MB", pkg_rss, c_rss, go_rss, "<=15 MB", at_most(15)),
    ]  # fmt: skip


def async_rows(libs: Libraries, opt: Options, rounds: Rounds) -> list[Row]:
    count = int(200_000 * opt.scale)
    py = rounds.add(lambda: falco_async(libs.async_py, count)[0])
    c = rounds.add(lambda: falco_async(libs.async_c, count)[0])
    note = "C column: a C emitter (c_reference/async_ref.c)"
    return [
        Row("async events through Falco's handler", "kev/s", py, c, None, ">=0.5 C",
            ratio_at_least(0.5), note=note)
    ]  # fmt: skip


def import_time_row(repeat: int, instructions: bool) -> Row:
    """What importing the event model as a decoding plugin does (``from falco_plugin.event
    import decode``) costs in a fresh interpreter, after ``import falco_plugin``: time (best
    of R, one process each) and instructions (callgrind: the difference of two processes).
    Bytecode is cached (written by a first import), as in a plugin library."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base, model = "import falco_plugin", "from falco_plugin.event import decode"
    timed = (f"import time; {base}; t = time.perf_counter(); {model}; "
             "print(time.perf_counter() - t)")  # fmt: skip

    def run(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env=env).stdout  # fmt: skip

    run(timed)  # writes the bytecode
    cell = Cell(min(float(run(timed)) for _ in range(max(repeat, 5))) * 1000)
    if instructions:
        counts = [callgrind.profile([sys.executable, "-c", code], env=env).total
                  for code in (base, f"{base}; {model}")]  # fmt: skip
        cell.instr = counts[1] - counts[0]
    return Row("import of the event model (decode), after the SDK's", "ms", cell)


def run(opt: Options) -> list[Row]:
    root = prefix()
    if root is None:
        raise SystemExit("set FALCO_PLUGIN_REALHOST=PREFIX (a realhost install made with --dev)")
    with tempfile.TemporaryDirectory(prefix="fp-bench-") as tmp_name:
        tmp = Path(tmp_name)
        libs = Libraries(root, tmp)
        driver_binary()  # compiled before anything is timed
        libs.warm_up()
        rounds = Rounds()
        print("measuring instruction counts (callgrind)..." if opt.instructions else "",
              file=sys.stderr)  # fmt: skip
        parts: dict[str, Callable[[], list[Row]]] = {
            "source": lambda: source_rows(root, libs, opt, rounds),
            "falco": lambda: falco_rows(libs, opt, rounds),
            "extraction": lambda: extraction_rows(libs, opt, rounds),
            "tables": lambda: table_rows(libs, opt, rounds, tmp),
            "start": lambda: start_rows(libs, rounds, opt.instructions),
            "async": lambda: async_rows(libs, opt, rounds),
        }
        rows = [row for name, part in parts.items() if wanted(opt, name) for row in part()]
        print(f"timing: {len(rounds.jobs)} configurations x {opt.repeat} rounds", file=sys.stderr)
        rounds.run(opt.repeat)
        for row in rows:  # derived: the SDK's own cost, the tables' share of a call
            if row.difference:
                first, second = row.difference
                if first.value is not None and second.value is not None:
                    row.py.value = first.value - second.value
                if first.instr is not None and second.instr is not None:
                    row.py.instr = first.instr - second.instr
        if wanted(opt, "events"):
            rows += event_model_rows(opt)
            rows.append(import_time_row(opt.repeat, opt.instructions))
    return rows


def wanted(opt: Options, part: str) -> bool:
    return not opt.only or part in opt.only


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best of R)")
    parser.add_argument("--scale", type=float, default=1.0, help="events per run, x F")
    parser.add_argument("--no-instructions", action="store_true", help="skip callgrind")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--markdown", type=Path,
                        help="also write the table as Markdown (the performance page's) here")
    parser.add_argument(
        "--only", action="append", choices=PARTS, default=[],
        help="run only this part of the table (repeatable), e.g. --only start",
    )  # fmt: skip
    args = parser.parse_args(argv)
    opt = Options(args.repeat, args.scale, not args.no_instructions and callgrind.available(),
                  frozenset(args.only))  # fmt: skip
    started = time.monotonic()
    rows = run(opt)
    load = os.getloadavg()[0]
    print(
        f"real libsinsp and Falco ({prefix()}), Python {sys.version.split()[0]}, best of "
        f"{opt.repeat}, load average {load:.1f}, {time.monotonic() - started:.0f} s"
    )
    print("Ir: instructions (callgrind) per event of the whole process for the source rows, per")
    print("extract_fields call for extraction and tables, of plugin_init for the start;")
    print("ratios above 1 favour Python\n")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([_row_json(r) for r in rows], indent=1))
    if args.markdown:
        args.markdown.write_text(markdown_table(rows))
    return rows


def _row_json(row: Row) -> dict[str, Any]:
    def cell(c: Cell | None) -> dict[str, Any] | None:
        return None if c is None else {"value": c.value, "instr": c.instr, "calls": c.call_instr}

    return {"title": row.title, "unit": row.unit, "python": cell(row.py), "c": cell(row.c),
            "go": cell(row.go), "target": row.target}  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
