"""The SDK's own plugin host: loads plugins like libsinsp and runs captures through them.

It has two halves. A C engine (``_native/host/``, compiled on demand, never linked with
libpython) does what must be C: dlopen, the plugin API calls, the capture loops, the state
tables, async events and capture listening, field extraction and filter evaluation. This
package does the rest: the command line (:mod:`.options`), checking what the libraries say
about themselves (:mod:`.metadata`), configs against their schema (:mod:`.schema`), fields
and the filter language (:mod:`.fields`, :mod:`.filter`), the threads table's contents
(:mod:`.threads`), the plan it hands the engine and the records it reads back
(:mod:`.wire`, :mod:`.engine`, :mod:`.run`) and their JSON and text forms (:mod:`.render`).

::

    from falco_plugin.host import run_host, parse_json_lines

    proc = run_host(["run", "--json", "libcountdown.so", "--open-params", "3"])
    records = parse_json_lines(proc.stdout)

``run`` options go before the first path: ``--fields a.b,c.d[arg]`` adds a ``"fields"``
object to each JSON event record, ``--output FMT`` formats ``%a.b`` tokens like Falco
(``<NA>`` when absent), ``--filter EXPR`` keeps matching events (libsinsp's language, see the
README), ``--offsets`` passes ``value_offsets`` to 3.11+ plugins, ``--extract-threads N``
(with ``--inits N``) re-extracts on N states from N threads and compares, and
``--extract-repeat K`` times K extra calls per event and field. Plugins with
``plugin_parse_event`` get every event of their sources before extraction; parse and extract
plugins get the state tables API and a libsinsp-like ``threads`` table (``--thread-tid T``,
``--threads-fixture JSON``, ``--dump-table NAME``). Async plugins get a handler once the
sources are open (``--async-wait MS``, ``--async-reset``, ``--dump-state``); capture listening
plugins get ``capture_open``/``capture_close`` and a routine pool (``--routine-threads N``).
``python -m falco_plugin.host --help`` lists everything.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from .engine import HostBuildError, Session, cache_dir, extra_cflags, host_binary
from .options import HostCommand, PluginArgs, UsageError, info_parser, parse_command, run_parser
from .run import Output, execute

__all__ = [
    "HostBuildError",
    "HostCommand",
    "HostResult",
    "PluginArgs",
    "cache_dir",
    "extra_cflags",
    "host_binary",
    "main",
    "parse_json_lines",
    "run_host",
    "run_program",
    "run_streaming",
]


class HostResult(subprocess.CompletedProcess[str]):
    """What one host command printed: ``stdout`` (the host's lines), ``stderr`` (the host's
    warnings and errors, the plugins' logs and whatever they wrote to stderr) and
    ``plugin_stdout`` (what the plugins wrote to stdout, kept apart from the host's output)."""

    def __init__(
        self, args: list[str], returncode: int, stdout: str, stderr: str, plugin_stdout: str = ""
    ) -> None:
        super().__init__(args, returncode, stdout, stderr)
        self.plugin_stdout = plugin_stdout


def _usage(exc: UsageError) -> str:
    return f"{exc.usage}fp-host: error: {exc}\n"


def run_host(
    args: Sequence[str],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> HostResult:
    """Run the host with ``args`` (e.g. ``["run", "--json", "lib.so"]``) and capture its output.

    The exit code is not checked: 0 means success, 1 a plugin or host error (reported on
    stderr, or as an ``{"error": ...}`` line on stdout with ``--json``), 2 a usage error.
    Raises ``subprocess.TimeoutExpired`` when the run takes longer than ``timeout`` seconds
    (the engine is killed).
    """
    argv = list(args)
    try:
        cmd = parse_command(argv)
    except UsageError as exc:
        return HostResult(argv, 2, "", _usage(exc))
    out: list[str] = []
    err: list[str] = []
    plugin_out: list[str] = []
    sessions: list[Session | None] = [None]
    output = Output(
        stdout=lambda line: out.append(line + "\n"),
        stderr=lambda line: err.append(line + "\n"),
        plugin_stdout=plugin_out.append,
        plugin_stderr=err.append,
        env=dict(env) if env is not None else None,
        on_session=lambda s: sessions.__setitem__(0, s),
    )
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        if sessions[0] is not None:
            sessions[0].signal(signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        rc = execute(cmd, output)
    finally:
        timer.cancel()
    if expired.is_set():
        raise subprocess.TimeoutExpired(argv, timeout, "".join(out), "".join(err))
    return HostResult(argv, rc, "".join(out), "".join(err), "".join(plugin_out))


def run_program(
    cmd: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a test program (a driver like falco_plugin.sinsp's) and capture its output as
    text, unchecked."""
    return subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        env=dict(env) if env is not None else None,
        check=False,
    )


def parse_json_lines(stdout: str, *, strict: bool = False) -> list[dict[str, Any]]:
    """The JSON objects the host printed with ``--json``, one per line, in order.

    Lines that are not JSON objects are skipped, or raise ``ValueError`` when ``strict``.
    """
    records: list[dict[str, Any]] = []
    for number, line in enumerate(stdout.splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        try:
            value = json.loads(text) if text.startswith("{") else None
        except json.JSONDecodeError as exc:
            if strict:
                raise ValueError(f"line {number} is not valid JSON: {exc}: {text[:200]}") from exc
            continue
        if isinstance(value, dict):
            records.append(value)
        elif strict:
            raise ValueError(f"line {number} is not a JSON object: {text[:200]}")
    return records


def _print(stream: Any) -> Any:
    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write


def run_streaming(
    cmd: HostCommand,
    stdout: Callable[[str], None] | None = None,
    stderr: Callable[[str], None] | None = None,
    on_session: Callable[[Session | None], None] | None = None,
) -> int:
    """Runs a host command in the foreground, handing each printed line to ``stdout`` /
    ``stderr`` (default: print them) as it comes; the plugins' own stdout goes to ours (to
    our stderr with ``--json``, so that stdout stays JSON lines). SIGINT and SIGTERM stop
    the captures: the engine ends them, reports what it saw, and exits; the status is then
    128 + the signal. ``on_session`` is told of the engine's session when it starts (and
    None when it ends), for a caller that stops it itself. Must run on the main thread (it
    installs the signal handlers)."""
    session: list[Session | None] = [None]
    received: list[int] = []

    def forward(sig: int, frame: FrameType | None) -> None:
        received.append(sig)
        if session[0] is not None:
            session[0].signal(sig)

    def started(s: Session | None) -> None:
        session[0] = s
        if on_session is not None:
            on_session(s)

    output = Output(
        stdout=stdout or _print(sys.stdout),
        stderr=stderr or _print(sys.stderr),
        plugin_stdout=sys.stderr if cmd.json else None,
        on_session=started,
    )
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = execute(cmd, output)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + received[0] if received else rc


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m falco_plugin.host ARGS...``: run the host, printing as it goes."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"], ["help"]):
        print(run_parser().format_help())
        print(info_parser().format_help())
        return 0
    try:
        cmd = parse_command(args)
    except UsageError as exc:
        sys.stderr.write(_usage(exc))
        return 2
    try:
        return run_streaming(cmd)
    except HostBuildError as exc:
        print(f"falco-plugin: {exc}", file=sys.stderr)
        return 2
