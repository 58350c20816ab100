"""State tables benchmark: table lookups and field reads per extract_fields call, Python
next to C.

    python benchmarks/tables.py [--events N] [--calls K] [--repeat R]

The countdown example is the event source, run through the SDK's C host with
``--thread-tid 1`` (every event belongs to thread 1 of the host's ``threads`` table) and
``--extract-repeat K`` (K timed extract_fields calls per event for the one field asked;
``extract_ns_per_call`` in the extractor's summary). Each case is done by a Python plugin
(``plugins/bench_tables.py``) and by a C reference plugin (``c_reference/tables_ref.c``,
compiled into a temporary directory) in the same run of this script:

- thread lookup only: get the thread at the event's tid, release it;
- static string field: the lookup, then read ``comm`` (its length is the value);
- static int64 field: the lookup, then read ``pid``;
- added field: the lookup, then read a uint64 field the plugin added to ``threads`` at init
  and that its own ``parse_event`` increments for every event;
- exported table: read ``value`` at key ``evtnum % 64`` of ``bench_rows``, a table exported
  by another plugin. Both readers are run against both exporters (the C one and the Python
  one, same name, key and fields): the "C exporter" row compares the readers alone, the
  "Python exporter" row includes the Python exporter's side in both columns, and "own
  exporter" puts C reader + C exporter next to Python reader + Python exporter.

Every configuration is checked once first (the fields must have the expected values); the
timed runs then go round-robin over all configurations, R rounds, and each figure is the
median of its R runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from falco_plugin.build import build_cached
from falco_plugin.host import parse_json_lines, run_host

HERE = Path(__file__).resolve().parent
NATIVE = HERE.parent / "src" / "falco_plugin" / "_native"
PLUGINS = HERE / "plugins" / "bench_tables.py"
ROWS = 64  # entries of bench_rows in both exporters
CHECK_EVENTS = 5
SOURCE_CONFIG = {"batch_size": 512}


@dataclass(frozen=True)
class Setup:
    """One timed configuration: the plugins loaded after the source, and the field asked."""

    plugins: tuple[Path, ...]
    field: str
    expect: Callable[[int], int]  # the field's value at event number n (1-based)

    @property
    def extractor(self) -> str:
        """The name of the plugin that owns the field (its prefix, by construction)."""
        return self.field.split(".", 1)[0]

    def key(self) -> tuple[tuple[Path, ...], str]:
        """What identifies the configuration (``expect`` does not take part)."""
        return self.plugins, self.field


def compile_reference(out_dir: Path, name: str, *defines: str) -> Path:
    """Compile one plugin of ``c_reference/tables_ref.c`` with the flags the shim gets."""
    out = out_dir / f"lib{name}.so"
    cc = shlex.split(os.environ.get("CC") or "cc")
    src = HERE / "c_reference" / "tables_ref.c"
    cmd = [*cc, "-std=c11", "-O2", "-fPIC", "-shared", f"-I{NATIVE}", *defines, str(src)]
    subprocess.run([*cmd, "-o", str(out)], check=True)
    return out


def host_args(setup: Setup, source: Path, events: int, options: list[str]) -> list[str]:
    """fp-host arguments for one capture of ``events`` countdown events."""
    args = ["run", "--json", "--thread-tid", "1", "--fields", setup.field, *options]
    args += [str(source), "--config", json.dumps(SOURCE_CONFIG), "--open-params", str(events)]
    return args + [str(p) for p in setup.plugins]


def check(setup: Setup, source: Path) -> None:
    """A short capture: the field must have the expected value for every event."""
    proc = run_host(host_args(setup, source, CHECK_EVENTS, ["--no-event-to-string"]))
    records = parse_json_lines(proc.stdout)
    errors = [r["error"] for r in records if "error" in r]
    got = [r["fields"][setup.field] for r in records if "evtnum" in r]
    want = [setup.expect(n) for n in range(1, CHECK_EVENTS + 1)]
    if proc.returncode != 0 or errors or got != want:
        raise RuntimeError(
            f"{setup.field} with {[p.name for p in setup.plugins]}: expected {want}, got "
            f"{got} (rc {proc.returncode}, errors {errors}): {proc.stderr[-800:]}"
        )


def ns_per_call(setup: Setup, source: Path, events: int, calls: int) -> float:
    """One timed capture; returns the extractor's ns per extract_fields call."""
    options = ["--quiet", "--no-event-to-string", "--extract-repeat", str(calls)]
    proc = run_host(host_args(setup, source, events, options), timeout=600)
    records = parse_json_lines(proc.stdout)
    summaries = {r["summary"]["plugin"]: r["summary"] for r in records if "summary" in r}
    mine = summaries.get(setup.extractor)
    if (
        proc.returncode != 0
        or mine is None
        or mine.get("extract_calls") != events * calls
        or mine.get("extract_failures")
        or any(s.get("entry_leaks") or s.get("parse_failures") for s in summaries.values())
    ):
        raise RuntimeError(
            f"{setup.field}: timed run failed (rc {proc.returncode}): {proc.stdout[-800:]} "
            f"{proc.stderr[-800:]}"
        )
    return float(mine["extract_ns_per_call"])


def exported_value(n: int) -> int:
    """What both exporters store at the key the readers use for event ``n``."""
    return 1000 + n % ROWS


def main(argv: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """Run the benchmark and print a table; returns {case: (C ns/call, Python ns/call)}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per Python run")
    parser.add_argument("--calls", type=int, default=20, help="timed extract calls per event")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)
    c_events = args.events * 5  # C calls are fast: a longer run keeps the timing meaningful

    source = build_cached(str(HERE.parent / "examples" / "countdown" / "plugin.py"))
    py_threads, py_exporter, py_reader = (
        build_cached(f"{PLUGINS}:{name}")
        for name in ("BenchTables", "BenchExporter", "BenchReader")
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        c_threads = compile_reference(out, "tables_ref")
        c_exporter = compile_reference(out, "tables_ref_exporter", "-DTR_EXPORTER")
        c_reader = compile_reference(out, "tables_ref_reader", "-DTR_READER")

        def pair(field: str, expect: Callable[[int], int]) -> tuple[Setup, Setup]:
            return (
                Setup((c_threads,), f"tables_ref.{field}", expect),
                Setup((py_threads,), f"bench_tables.{field}", expect),
            )

        def reader(exporter: Path, lib: Path, field: str) -> Setup:
            return Setup((exporter, lib), field, exported_value)

        c_own = reader(c_exporter, c_reader, "tables_ref_reader.value")
        py_own = reader(py_exporter, py_reader, "bench_reader.value")
        cases: list[tuple[str, Setup, Setup]] = [
            ("thread lookup only", *pair("lookup", lambda n: 1)),
            ("static str field (comm -> len)", *pair("comm_len", lambda n: len("init"))),
            ("static int64 field (pid)", *pair("pid", lambda n: 1)),
            ("added u64 field (parser writes)", *pair("counter", lambda n: n)),
            ("exported table, C exporter", c_own, reader(c_exporter, py_reader, py_own.field)),
            ("exported table, Py exporter", reader(py_exporter, c_reader, c_own.field), py_own),
            ("exported table, own exporter", c_own, py_own),
        ]
        setups: dict[tuple[tuple[Path, ...], str], Setup] = {}
        for _, c_setup, py_setup in cases:
            setups.setdefault(c_setup.key(), c_setup)
            setups.setdefault(py_setup.key(), py_setup)
        for setup in setups.values():
            check(setup, source)

        runs: dict[tuple[tuple[Path, ...], str], list[float]] = {k: [] for k in setups}
        for _ in range(args.repeat):  # round-robin: a slow spell hits every figure alike
            for k, setup in setups.items():
                events = c_events if setup.extractor.startswith("tables_ref") else args.events
                runs[k].append(ns_per_call(setup, source, events, args.calls))

    print("state tables: one field per extract_fields call, thread 1 of the host's threads table")
    print(
        f"{args.events:,} countdown events x {args.calls} calls per Python run "
        f"({c_events:,} x {args.calls} for C), median of {args.repeat}"
    )
    header = f"{'case':<34}{'C ref ns/call':>15}{'Python ns/call':>16}{'x C time':>10}"
    print(header)
    print("-" * len(header))
    results: dict[str, tuple[float, float]] = {}
    for label, c_setup, py_setup in cases:
        c_ns = statistics.median(runs[c_setup.key()])
        py_ns = statistics.median(runs[py_setup.key()])
        results[label] = (c_ns, py_ns)
        print(f"{label:<34}{c_ns:>15.1f}{py_ns:>16.1f}{py_ns / c_ns:>10.1f}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
