"""Async events per second from one and from four Python threads, through the SDK's host.

    python benchmarks/async_events.py [--count N] [--repeat R]

The plugin's threads emit as fast as they can while the host's handler checks, copies and
queues each event and the host's delivery loop drains the queue; the figure is events
emitted per second of the emitting threads' wall time (median of R runs), and the host
must have delivered every event. A C reference plugin does the same in the same run; when
producers outrun the host's delivery they back off on a full queue (counted), so the
figures are bounded by the host, not only by the plugin.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from falco_plugin.build import build_cached
from falco_plugin.host import run_host

HERE = Path(__file__).resolve().parent


def run_once(lib: Path, threads: int, count: int) -> tuple[float, int]:
    proc = run_host(
        [
            "run",
            "--json",
            "--quiet",
            "--async-wait",
            "1000",
            str(lib),
            "--config",
            json.dumps({"threads": threads, "count": count}),
        ],
        timeout=600,
    )
    metrics: dict[str, int] = {}
    delivered = None
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "metrics" in record:
            metrics = {m["name"]: m["value"] for m in record["metrics"]["items"]}
        if "summary" in record:
            delivered = record["summary"].get("async_events")
        if "error" in record:
            raise RuntimeError(record["error"])
    if metrics.get("sent") != count or delivered != count:
        raise RuntimeError(f"sent {metrics.get('sent')}, delivered {delivered}, wanted {count}")
    return count / (metrics["elapsed_ns"] / 1e9), metrics.get("refusals", 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    lib = build_cached(str(HERE / "plugins" / "bench_async.py"))
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "libasync_ref.so"
        native = HERE.parent / "src" / "falco_plugin" / "_native"
        cc = os.environ.get("CC", "cc")
        source = HERE / "c_reference" / "async_ref.c"
        subprocess.run(
            [
                cc,
                "-O2",
                "-fPIC",
                "-shared",
                f"-I{native}",
                str(source),
                "-o",
                str(ref),
                "-lpthread",
            ],
            check=True,
        )
        print(f"async events, {args.count:,} per run, median of {args.repeat}:")
        for threads in (1, 4):
            c_runs = [run_once(ref, threads, args.count) for _ in range(args.repeat)]
            c_rate = statistics.median(r for r, _ in c_runs)
            runs = [run_once(lib, threads, args.count) for _ in range(args.repeat)]
            rate = statistics.median(r for r, _ in runs)
            print(
                f"  {threads} thread(s): Python {rate:11,.0f} events/s ({1e9 / rate:6.0f} ns),"
                f" C reference {c_rate:11,.0f} events/s ({1e9 / c_rate:6.0f} ns),"
                f" {c_rate / rate:5.1f} x C time; queue-full back-offs up to"
                f" {max(n for _, n in runs)} (Python), {max(n for _, n in c_runs)} (C)"
            )


if __name__ == "__main__":
    main()
