"""The host's command line (``python -m falco_plugin.host``, ``run_host([...])``), with
argparse::

    info [--json] [--deepbind] PATH.so
    run [run options] PATH.so [--config S] [--open-params S] [--set-config S] [PATH2.so ...]

Run options go before the first path; each plugin's own options follow its path. A usage
error raises :class:`UsageError` with argparse's message and usage (exit status 2).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

PLUGIN_OPTIONS = ("--config", "--open-params", "--set-config")


class UsageError(Exception):
    """A command line the host cannot run; ``usage`` is the text to show with it."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


@dataclass
class PluginArgs:
    path: str
    config: str | None = None
    open_params: str | None = None
    set_config: str | None = None


@dataclass
class HostCommand:
    """What to run: every option of the command line, checked."""

    command: str  # "run" or "info"
    plugins: list[PluginArgs] = field(default_factory=list)
    json: bool = False
    quiet: bool = False
    deepbind: bool = False
    max_events: int = 0
    cycles: int = 1
    reload: bool = False
    inits: int = 1
    no_event_to_string: bool = False
    fields: list[str] = field(default_factory=list)
    output: str | None = None
    filter: str | None = None
    offsets: bool = False
    extract_threads: int = 0
    extract_repeat: int = 0
    thread_tid: int | None = None
    threads_fixture: list[Any] | None = None
    dump_table: list[str] = field(default_factory=list)
    async_wait: int = 0
    async_until: int = 0  # with async_wait: stop waiting once this many async events came
    async_reset: bool = False
    dump_state: bool = False
    routine_threads: int = 2
    progress_every: int = 0  # ms between the captures' live reports ({"tick": ...}); 0: none
    events: str | None = None  # a raw event stream, replayed as the "syscall" source
    events_shown: bytes | None = None  # its flag per event: shown (1) or only parsed (0)
    capture: str | None = None  # a scap capture replayed as libsinsp replays it


def count(low: int, high: int) -> Any:
    """An argparse type: an integer in [low, high]."""

    def convert(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"needs a non-negative integer, not {text!r}"
            ) from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"needs a non-negative integer, not {text!r}")
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        if v > high:
            raise argparse.ArgumentTypeError(f"is limited to {high}")
        return v

    return convert


def integer(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs an integer, not {text!r}") from None


def field_list(text: str) -> list[str]:
    """--fields: split at the commas outside brackets, trimmed; no empty entry."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text + "\0"):
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        elif (c == "," and depth == 0) or i == len(text):
            spec = text[start:i].strip()
            if not spec:
                raise argparse.ArgumentTypeError(f"needs comma-separated field names, not {text!r}")
            out.append(spec)
            start = i + 1
    return out


def table_name(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("needs a table name")
    return text


def fixture(text: str) -> list[Any]:
    """--threads-fixture: a JSON array of thread objects, or @FILE holding one."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]!r}: {exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError("must be a JSON array of objects")
    return value


class _PluginOptionFirst(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(f"{self.option_strings[0]} must follow a plugin path")


def run_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fp-host run", description="Run plugins through the SDK's host.")
    p.add_argument(
        "--max-events",
        type=count(0, 2**64 - 1),
        default=0,
        metavar="N",
        help="stop each capture after N events (0: no limit)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines on stdout")
    p.add_argument("--quiet", action="store_true", help="no per-event lines")
    p.add_argument(
        "--cycles",
        type=count(1, 2**64 - 1),
        default=1,
        metavar="N",
        help="load/init/capture/destroy N times",
    )
    p.add_argument("--reload", action="store_true", help="dlclose and dlopen between cycles")
    p.add_argument(
        "--inits",
        type=count(1, 1000000),
        default=1,
        metavar="N",
        help="init every plugin N times (at least)",
    )
    p.add_argument("--deepbind", action="store_true", help="dlopen with RTLD_DEEPBIND")
    p.add_argument("--no-event-to-string", action="store_true", help="never call event_to_string")
    p.add_argument(
        "--fields",
        type=field_list,
        action="extend",
        default=[],
        metavar="LIST",
        help="comma-separated fields to extract and print with each event",
    )
    p.add_argument("--output", metavar="FMT", help="an output format like Falco's (%%field)")
    p.add_argument("--filter", metavar="EXPR", help="only events matching (libsinsp's language)")
    p.add_argument(
        "--offsets",
        action="store_true",
        help="ask 3.11+ plugins for value offsets (of the --fields)",
    )
    p.add_argument(
        "--extract-threads",
        type=count(1, 1024),
        default=0,
        metavar="N",
        help="after the capture, re-extract on N states from N threads and compare",
    )
    p.add_argument(
        "--extract-repeat",
        type=count(1, 10**9),
        default=0,
        metavar="K",
        help="call extract_fields K more times per event and field, timed",
    )
    p.add_argument(
        "--thread-tid",
        type=integer,
        metavar="T",
        help="stamp tid T on plugin events and add thread T to the threads table",
    )
    p.add_argument(
        "--threads-fixture",
        type=fixture,
        metavar="J",
        help="more threads table entries: a JSON array of thread objects, or @FILE",
    )
    p.add_argument(
        "--dump-table",
        type=table_name,
        action="append",
        default=[],
        metavar="NAME",
        help="after the capture, print table NAME (repeatable)",
    )
    p.add_argument(
        "--async-wait",
        type=count(0, 3600000),
        default=0,
        metavar="MS",
        help="keep delivering async events and running routines MS ms after the captures",
    )
    p.add_argument(
        "--async-until",
        type=count(1, 2**32),
        default=0,
        metavar="N",
        help="with --async-wait: stop waiting as soon as the capture has delivered N async "
        "events (MS is then a deadline)",
    )
    p.add_argument(
        "--async-reset",
        action="store_true",
        help="set, clear and set the async handlers again before the capture",
    )
    p.add_argument(
        "--dump-state",
        action="store_true",
        help="after the capture, call dump_state on each async plugin",
    )
    p.add_argument(
        "--routine-threads",
        type=count(1, 256),
        default=2,
        metavar="N",
        help="threads running capture listening routines (default 2)",
    )
    p.add_argument(
        "--progress-every",
        type=count(1, 3600000),
        default=0,
        metavar="MS",
        help="while capturing, report each capture's events so far and progress every MS ms",
    )
    p.add_argument(
        "--events",
        metavar="FILE",
        help="a raw event stream (scap events back to back, as falco_plugin.event.replay "
        "gives a capture's) replayed as the syscall source",
    )
    p.add_argument(
        "--capture",
        metavar="FILE.scap",
        help="replay a scap capture file (plain or gzip) into the plugins, with the threads "
        "table libsinsp builds from its process list and events",
    )
    for option in PLUGIN_OPTIONS:
        p.add_argument(
            option,
            action=_PluginOptionFirst,
            nargs=0,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
    p.add_argument(
        "plugins",
        nargs=argparse.REMAINDER,
        metavar="PATH.so [plugin options]",
        help="plugins, each followed by --config S, --open-params S, --set-config S",
    )
    return p


def info_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fp-host info", description="What `falco --plugin-info` would print.")
    p.add_argument("--json", action="store_true")
    p.add_argument("--deepbind", action="store_true")
    p.add_argument("plugin", metavar="PATH.so")
    return p


def _plugins(rest: list[str], parser: argparse.ArgumentParser) -> list[PluginArgs]:
    run_options = {opt for a in parser._actions for opt in a.option_strings}  # noqa: SLF001
    plugins: list[PluginArgs] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if not a.startswith("--"):
            plugins.append(PluginArgs(a))
            i += 1
            continue
        name, eq, value = a.partition("=")
        if name not in PLUGIN_OPTIONS:
            if name in run_options:
                parser.error(f"run option {name} must come before the first plugin path")
            parser.error(f"unknown plugin option {a!r}")
        if not eq:
            if i + 1 >= len(rest):
                parser.error(f"argument {name}: expected one argument")
            value = rest[i + 1]
            i += 1
        setattr(plugins[-1], name[2:].replace("-", "_"), value)
        i += 1
    return plugins


def parse_command(argv: list[str]) -> HostCommand:
    """The host command line, checked; UsageError otherwise."""
    top = "usage: fp-host info [--json] PATH.so\n       fp-host run [run options] PATH.so ...\n"
    if not argv:
        raise UsageError("missing command (run or info)", top)
    command, rest = argv[0], argv[1:]
    if command == "info":
        ns = info_parser().parse_args(rest)
        return HostCommand("info", [PluginArgs(ns.plugin)], json=ns.json, deepbind=ns.deepbind)
    if command != "run":
        raise UsageError(f"unknown command {command!r} (run or info)", top)
    parser = run_parser()
    ns = parser.parse_args(rest)
    plugins = _plugins(ns.plugins, parser)
    if not plugins and ns.events is None and ns.capture is None:
        parser.error("run needs at least one plugin path (or --events or --capture)")
    if ns.capture is not None and ns.events is not None:
        parser.error("--capture and --events are two ways to give events: use one")
    if ns.capture is not None and (ns.thread_tid is not None or ns.threads_fixture is not None):
        parser.error(
            "--capture builds the threads table from the capture: --thread-tid and "
            "--threads-fixture do not apply"
        )
    if ns.extract_threads > ns.inits:
        parser.error(
            f"--extract-threads {ns.extract_threads} needs --inits {ns.extract_threads} or "
            "more (thread i extracts on state i)"
        )
    if (ns.extract_threads or ns.extract_repeat) and not (ns.fields or ns.output or ns.filter):
        parser.error(
            "--extract-threads and --extract-repeat need fields to extract (--fields, "
            "--output or --filter)"
        )
    if ns.offsets and not ns.fields:
        parser.error("--offsets needs --fields")
    if ns.async_until and not ns.async_wait:
        parser.error("--async-until needs --async-wait MS, the longest it waits")
    values = {k: v for k, v in vars(ns).items() if k != "plugins"}
    return HostCommand("run", plugins, **values)
