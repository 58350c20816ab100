"""The ``falco-plugin`` command: build a plugin, run it through the SDK's host, describe it."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .build import BuildError, build, build_cached
from .host import host_binary
from .loader import PluginLoadError
from .validate import PluginDefinitionError


def plugin_library(target: str) -> Path:
    """A built ``.so`` as given, or the cached build of a Python plugin."""
    path = Path(target)
    if path.suffix == ".so":
        if not path.is_file():
            raise FileNotFoundError(f"no such plugin library: {target}")
        return path.resolve()
    return build_cached(target)


def format_ts(ts: int) -> str:
    """Nanoseconds since the epoch as UTC text with nanoseconds."""
    seconds, nanos = divmod(ts, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def event_line(event: dict[str, Any]) -> str:
    """One printed line per event: number, time and what %evt.plugininfo shows (or the
    --output line), then the --fields values."""
    ts = event.get("ts")
    when = format_ts(ts) if isinstance(ts, int) else "?"
    text = event.get("output", event.get("info"))
    if event.get("async"):
        data = bytes.fromhex(str(event.get("data_hex", ""))).decode(errors="replace")
        text = f"[async {event.get('name')}] {data}"
    line = f"{event.get('evtnum')} {when} {text if text is not None else ''}".rstrip()
    if "fields" in event and "output" not in event:
        pairs = " ".join(f"{k}={json.dumps(v)}" for k, v in event["fields"].items())
        line = f"{line} {pairs}"
    return line


def cmd_build(args: argparse.Namespace) -> int:
    out = build(args.plugin, args.output)
    print(out)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    library = plugin_library(args.plugin)
    cmd = [str(host_binary()), "run", "--json", "--max-events", str(args.max_events)]
    for option in ("fields", "output", "filter", "thread_tid", "async_wait"):
        if getattr(args, option) is not None:
            cmd += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    cmd.append(str(library))
    if args.config is not None:
        cmd += ["--config", args.config]
    if args.open_params is not None:
        cmd += ["--open-params", args.open_params]
    configs = args.extractor_config or []
    for i, extractor in enumerate(args.extractor or []):
        cmd.append(str(plugin_library(extractor)))
        if i < len(configs):
            cmd += ["--config", configs[i]]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if args.json:
                sys.stdout.write(line)
                sys.stdout.flush()
                continue
            _print_record(json.loads(line))
        return proc.wait()


def _print_record(record: dict[str, Any]) -> None:
    if "error" in record:
        err = record["error"]
        print(f"error ({err.get('stage')}): {err.get('message')}", file=sys.stderr)
    elif "summary" in record:
        s = record["summary"]
        if not s.get("events") and not s.get("eof") and not s.get("capture_seconds"):
            return  # a parse/extract-only plugin: it ran no capture of its own
        end = "end of stream" if s.get("eof") else "stopped"
        print(f"-- {s.get('plugin')}: {s.get('events')} events, {end}", file=sys.stderr)
    elif "evtnum" in record:
        print(event_line(record), flush=True)


def cmd_info(args: argparse.Namespace) -> int:
    library = plugin_library(args.plugin)
    cmd = [str(host_binary()), "info", *(["--json"] if args.json else []), str(library)]
    return subprocess.run(cmd).returncode


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="falco-plugin", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build PLUGIN (file.py[:Class] or module:Class) into a .so")
    b.add_argument("plugin")
    b.add_argument("-o", "--output", help="output path (default: ./lib<NAME>.so)")
    b.set_defaults(func=cmd_build)

    r = sub.add_parser("run", help="run a capture through the SDK's host and print the events")
    r.add_argument("plugin", help="a built .so, or a plugin file/module (built on the fly)")
    r.add_argument("--config", help="init config (JSON for plugins with a typed config)")
    r.add_argument("--open-params", help="the open params string")
    r.add_argument("--max-events", type=int, default=0, help="stop after N events (0: no limit)")
    r.add_argument("--json", action="store_true", help="print the host's JSON lines")
    r.add_argument("--fields", help="comma-separated fields to print, e.g. countdown.remaining")
    r.add_argument("--output", help="an output format like Falco's, e.g. '%%countdown.text'")
    r.add_argument("--filter", help="only events matching, e.g. 'countdown.remaining > 3'")
    r.add_argument(
        "--extractor",
        action="append",
        help="a parse or extract plugin to load too (repeatable)",
    )
    r.add_argument(
        "--async-wait",
        type=int,
        metavar="MS",
        help="keep delivering async events (and running routines) MS ms after the capture",
    )
    r.add_argument(
        "--thread-tid",
        type=int,
        help="stamp this tid on plugin events (a thread of the host's threads table)",
    )
    r.add_argument(
        "--extractor-config",
        action="append",
        help="init config of the extractor given at the same position",
    )
    r.set_defaults(func=cmd_run)

    i = sub.add_parser("info", help="what `falco --plugin-info` would print")
    i.add_argument("plugin")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (BuildError, PluginDefinitionError, PluginLoadError, FileNotFoundError) as exc:
        print(f"falco-plugin: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
