"""All benchmarks, next to C references built and run in the same run.

    python benchmarks/run.py [--events N] [--repeat R] [--skip-events] [--skip-tables]
    python benchmarks/run.py --realhost [--repeat R] [--scale F] [--no-instructions]

``--realhost``: the table in the real libsinsp and Falco, next to the official C++ and Go
dummy plugins (``benchmarks/realhost.py``; needs ``FALCO_PLUGIN_REALHOST``). Without it:
the SDK's own host, as follows.

Source: events/s and ns/event through the SDK's C host for batch sizes 1/10/100/1000, per-
event API (``add``) and bulk API (``add_many``), with payloads formatted per event
(countdown-like) or reused (SDK cost only), as ratios to a C reference plugin. Extraction:
one-field extract_fields calls, and a JSON field with and without the per-event cache. Then
the time from dlopen to a successful init and the RSS after init, the event model
benchmark (benchmarks/events.py) and the state tables benchmark (benchmarks/tables.py).
Every figure is the median of R runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from falco_plugin.build import build_cached
from falco_plugin.host import run_host

HERE = Path(__file__).resolve().parent
BATCH_SIZES = [1, 10, 100, 1000]


def build_c_reference(out_dir: Path) -> Path:
    """Compile the C reference plugin with the same flags the shim gets."""
    out = out_dir / "libcountdown_ref.so"
    native = HERE.parent / "src" / "falco_plugin" / "_native"
    cc = os.environ.get("CC", "cc")
    subprocess.run(
        [
            cc,
            "-O2",
            "-fPIC",
            "-shared",
            f"-I{native}",
            str(HERE / "c_reference" / "countdown_ref.c"),
            "-o",
            str(out),
        ],
        check=True,
    )
    return out


def run_once(
    library: Path,
    config: dict[str, object],
    events: int,
    options: list[str] | None = None,
    extra: list[str] | None = None,
) -> dict[str, float]:
    """One capture with no printing; returns the host's summary for ``library``."""
    proc = run_host(
        [
            "run",
            "--json",
            "--quiet",
            "--no-event-to-string",
            *(options or []),
            str(library),
            "--config",
            json.dumps(config),
            "--open-params",
            str(events),
            *(extra or []),
        ],
        timeout=600,
    )
    summary = None
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "error" in record:
            raise RuntimeError(f"{library.name}: {record['error']}")
        if "summary" in record:  # the source's first, then an extractor's figures
            new = {k: v for k, v in record["summary"].items() if v is not None}
            summary = new if summary is None else {**new, **summary, **_extract_part(new)}
    if proc.returncode != 0 or summary is None or summary["events"] != events:
        raise RuntimeError(f"{library.name} run failed: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    return summary


def _extract_part(summary: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in summary.items() if k.startswith("extract_") and v}


KEYS = ("events_per_second", "init_ms", "rss_kb_after_init", "extract_ns_per_call")


def median_of(repeat: int, fn: object, *args: object) -> dict[str, float]:
    runs = [fn(*args) for _ in range(repeat)]  # type: ignore[operator]
    return {key: statistics.median(r[key] for r in runs) for key in KEYS if key in runs[0]}


def extraction(args: argparse.Namespace, c_lib: Path, py_lib: Path) -> None:
    """One-field u64 extract_fields calls, and a JSON field with and without the cache."""
    events, repeat = 20_000, 20
    opts = ["--extract-repeat", str(repeat), "--fields"]
    cfg: dict[str, object] = {"batch_size": 512}

    def ns_per_call(lib: Path, config: dict[str, object], options: list[str], *extra: str) -> float:
        res = median_of(args.repeat, run_once, lib, config, events, options, list(extra))
        return res["extract_ns_per_call"]

    print(f"extract_fields, one u64 field, {events * repeat:,} calls per run:")
    ref_ns = ns_per_call(c_lib, cfg, [*opts, "countdown_ref.remaining"])
    print(f"  C reference, number parsed from the payload {ref_ns:8.1f} ns/call")
    for name, what in (
        ("bench_source.remaining", "number parsed from the payload"),
        ("bench_source.len", "payload length (SDK cost)     "),
    ):
        ns = ns_per_call(py_lib, cfg, [*opts, name])
        print(f"  Python, {what}      {ns:8.1f} ns/call {ns / ref_ns:6.1f} x C time")
    json_lib = build_cached(str(HERE.parent / "examples" / "json" / "plugin.py"))
    fields = "json.value[/user/name],json.value[/id]"
    for cache in (True, False):
        ns = ns_per_call(
            py_lib,
            {**cfg, "json_payloads": True},
            ["--extract-repeat", "5", "--fields", fields],
            str(json_lib),
            "--config",
            json.dumps({"cache": cache}),
        )
        label = "decoded once per event" if cache else "decoded for every call"
        print(f"  JSON field, payload {label}       {ns:8.1f} ns/call")
    print()


def main() -> None:
    if "--realhost" in sys.argv[1:]:
        import realhost  # benchmarks/realhost.py: real libsinsp and Falco, C++ and Go beside

        realhost.main([a for a in sys.argv[1:] if a != "--realhost"])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per Python run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--skip-events", action="store_true", help="skip the event model part")
    parser.add_argument("--skip-async", action="store_true", help="skip the async events part")
    parser.add_argument("--skip-tables", action="store_true", help="skip the state tables part")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        c_lib = build_c_reference(Path(tmp))
        py_lib = build_cached(str(HERE / "plugins" / "bench_source.py"))
        c_events = args.events * 10  # C is fast: a longer run keeps its timing meaningful

        venv = "a virtualenv" if sys.prefix != sys.base_prefix else "no virtualenv"
        print(f"interpreter: Python {sys.version.split()[0]} ({venv})")
        print(
            f"source benchmark: {args.events:,} Python events per run "
            f"({c_events:,} for C), median of {args.repeat}\n"
        )
        header = f"{'batch':>6} {'variant':<24} {'events/s':>13} {'ns/event':>9} {'x C time':>9}"
        print(header)
        print("-" * len(header))
        for batch in BATCH_SIZES:
            ref = median_of(args.repeat, run_once, c_lib, {"batch_size": batch}, c_events)
            ref_ns = 1e9 / ref["events_per_second"]
            print(
                f"{batch:>6} {'C reference':<24} {ref['events_per_second']:>13,.0f} "
                f"{ref_ns:>9.1f} {1.0:>9.1f}"
            )
            for bulk in (False, True):
                for fmt in (True, False):
                    name = ("add_many" if bulk else "add") + (" formatted" if fmt else " reused")
                    cfg = {"batch_size": batch, "bulk": bulk, "format_payloads": fmt}
                    res = median_of(args.repeat, run_once, py_lib, cfg, args.events)
                    ns = 1e9 / res["events_per_second"]
                    print(
                        f"{batch:>6} {name:<24} {res['events_per_second']:>13,.0f} "
                        f"{ns:>9.1f} {ns / ref_ns:>9.1f}"
                    )
            print()

        extraction(args, c_lib, py_lib)
        init = median_of(max(args.repeat, 5), run_once, py_lib, {"batch_size": 512}, 1)
        c_init = median_of(max(args.repeat, 5), run_once, c_lib, {"batch_size": 512}, 1)
        print(
            f"dlopen to successful init: Python plugin {init['init_ms']:.1f} ms, "
            f"C reference {c_init['init_ms']:.2f} ms"
        )
        print(
            f"RSS after init: Python plugin {init['rss_kb_after_init'] / 1024:.1f} MiB, "
            f"C reference {c_init['rss_kb_after_init'] / 1024:.1f} MiB"
        )

    if not args.skip_async:
        import async_events  # benchmarks/async_events.py: events/s from 1 and 4 threads

        print()
        async_events.main(["--repeat", str(args.repeat)])
    if not args.skip_events:
        import events  # benchmarks/events.py: the event model against its C reference

        print()
        events.main(["--repeat", str(args.repeat)])

    if not args.skip_tables:
        import tables  # benchmarks/tables.py: table lookups and field reads against C

        print()
        tables.main(["--repeat", str(args.repeat)])


if __name__ == "__main__":
    main()
