"""Async events per second from one and from four Python threads, through the SDK's host.

    python benchmarks/async_events.py [--count N] [--repeat R]

The plugin's threads emit as fast as they can while the host's handler checks, copies and
queues each event and the host's delivery loop drains the queue; the figure is events
emitted per second of the emitting threads' wall time (median of R runs), and the host
must have delivered every event.
"""

from __future__ import annotations

import argparse
import json
import statistics
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
            "300",
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
    return count / (metrics["elapsed_ns"] / 1e9), metrics["refusals"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    lib = build_cached(str(HERE / "plugins" / "bench_async.py"))
    print(f"async events, {args.count:,} per run, median of {args.repeat}:")
    for threads in (1, 4):
        runs = [run_once(lib, threads, args.count) for _ in range(args.repeat)]
        rate = statistics.median(r for r, _ in runs)
        refused = max(n for _, n in runs)
        print(
            f"  {threads} Python thread(s): {rate:12,.0f} events/s ({1e9 / rate:7.0f} ns/event),"
            f" queue-full retries up to {refused}"
        )


if __name__ == "__main__":
    main()
