"""k8saudit file source: events per second of the Python port against the official Go plugin.

    FALCO_PLUGIN_REALHOST=PREFIX python benchmarks/k8saudit.py [--events N] [--repeat R]

Both plugins read the same JSON-lines file (the example corpus's audit events repeated to
N events, 1.5 KB each on average) in the same run, in the real host:

1. source only: libsinsp's sinsp-example in its performance mode reads every event
   (``run_plugin.sh -q``); nothing is extracted;
2. Falco with the official k8s_audit_rules.yaml: the k8saudit and json plugins loaded, 48
   rules evaluated on every event (fields extracted as the rules need them). Falco's
   start-up is measured on a one-event file and subtracted.

The Go plugins run in Falco with ``useAsync: false``: their default async extraction
busy-waits and, on a 2-core machine with both plugins loaded, makes Falco process about 2
events per second; ``--go-async-events N`` measures that default on N events too. Each
figure is the median of R runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from falco_plugin.build import build_cached
from falco_plugin.realhost import FalcoPlugin, prefix, run_falco

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
CORPUS = EXAMPLES / "k8saudit" / "corpus" / "audit.jsonl"
RULES_ENV = "FALCO_PLUGIN_REFERENCE"


def audit_lines() -> list[str]:
    """The corpus lines that hold one valid audit event each."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [x for x in lines if x.startswith('{"kind":"Event"') and "stageTimestamp" in x]


def write_input(path: Path, events: int) -> None:
    lines = audit_lines()
    with path.open("w", encoding="utf-8") as out:
        for i in range(events):
            out.write(lines[i % len(lines)])
            out.write("\n")


def sinsp_rate(root: Path, library: Path, config: str, params: str) -> float:
    """Events per second read by sinsp-example (performance mode) from the plugin."""
    proc = subprocess.run(
        [str(root / "run_plugin.sh"), "-q", str(library), config, params],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "REALHOST": str(root)},
    )
    match = re.search(r"Events/ms: ([0-9.e+]+)", proc.stdout + proc.stderr)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"sinsp-example failed:\n{proc.stdout}\n{proc.stderr}")
    return float(match[1]) * 1000


def falco_seconds(plugins: list[FalcoPlugin], rules: Path) -> tuple[float, int]:
    """Wall time of one Falco run over the input, and how many alerts it printed."""
    start = time.perf_counter()
    run = run_falco(plugins, rules, timeout=1800)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"Falco failed:\n{run.stderr[-2000:]}")
    return elapsed, len(run.alerts)


def median(values: list[float]) -> float:
    return statistics.median(values)


def falco_rate(
    libs: tuple[Path, Path], config: str, data: Path, events: int, rules: Path, repeat: int
) -> tuple[float, float, int]:
    """Events per second of Falco over ``data`` (start-up, measured on a one-event file,
    subtracted), the start-up time, and the alerts of a run."""
    one = data.with_name("one.jsonl")
    write_input(one, 1)

    def plugins(path: Path) -> list[FalcoPlugin]:
        return [FalcoPlugin(libs[0], config, str(path)), FalcoPlugin(libs[1], config)]

    startup = median([falco_seconds(plugins(one), rules)[0] for _ in range(repeat)])
    runs = [falco_seconds(plugins(data), rules) for _ in range(repeat)]
    return events / (median([t for t, _ in runs]) - startup), startup, runs[0][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the input")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--go-async-events",
        type=int,
        default=0,
        help="also run Falco with the Go plugins' default useAsync: true on this many events "
        "(slow on few cores: about 2 events/s on 2 cores)",
    )
    args = parser.parse_args()
    root = prefix()
    if root is None:
        print("set FALCO_PLUGIN_REALHOST=PREFIX (a realhost install) to run this benchmark")
        return 2
    reference = Path(os.environ.get(RULES_ENV) or HERE.parent.parent / "shared" / "reference")
    rules = reference / "k8s_audit_rules.yaml"
    ours = (
        build_cached(str(EXAMPLES / "k8saudit" / "plugin.py")),
        build_cached(str(EXAMPLES / "json" / "plugin.py")),
    )
    go = (root / "out" / "libk8saudit_go.so", root / "out" / "libjson_go.so")
    no_async = '{"useAsync": false}'
    with tempfile.TemporaryDirectory(prefix="k8saudit-bench-") as tmp:
        data = Path(tmp) / "audit.jsonl"
        write_input(data, args.events)
        size = data.stat().st_size
        print(
            f"input: {args.events:,} audit events, {size / args.events:.0f} bytes each on "
            f"average; median of {args.repeat} runs; Python {sys.version.split()[0]}\n",
            flush=True,
        )
        sinsp = {}
        for name, library in (("Python port", ours[0]), ("Go", go[0])):
            runs = [sinsp_rate(root, library, "", str(data)) for _ in range(args.repeat)]
            sinsp[name] = median(runs)
        print("source only (sinsp-example -t), events/s:")
        for name, rate in sinsp.items():
            print(f"  {name:<30} {rate:>10,.0f}  ({rate / sinsp['Go']:.2f} x Go)", flush=True)

        falco = {
            "Python port": falco_rate(ours, "", data, args.events, rules, args.repeat),
            "Go, useAsync: false": falco_rate(go, no_async, data, args.events, rules, args.repeat),
        }
        if args.go_async_events:
            small = Path(tmp) / "small" / "audit.jsonl"
            small.parent.mkdir()
            write_input(small, args.go_async_events)
            falco["Go, useAsync: true (default)"] = falco_rate(
                go, "", small, args.go_async_events, rules, 1
            )
        print("\nFalco with k8s_audit_rules.yaml (k8saudit + json), events/s:")
        base = falco["Go, useAsync: false"][0]
        for name, (rate, startup, alerts) in falco.items():
            print(
                f"  {name:<30} {rate:>10,.0f}  ({rate / base:.2f} x Go without async; "
                f"start-up {startup:.2f} s; {alerts:,} alerts)"
            )
    result = {"sinsp": sinsp, "falco": {k: v[0] for k, v in falco.items()}}
    print(json.dumps({"events_per_s": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
