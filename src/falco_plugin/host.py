"""The SDK's own plugin host, ``fp-host``: a small C program that loads plugins like libsinsp.

It is compiled on demand from ``_native/host.c`` (plus ``_native/fp_abi.h``) with the system
C compiler (``$CC``, else ``cc``) into the cache directory, under a name that contains a hash
of the sources and of the compiler, and reused from there::

    from falco_plugin.host import run_host, parse_json_lines

    proc = run_host(["run", "--json", "libcountdown.so", "--open-params", "3"])
    records = parse_json_lines(proc.stdout)

Field extraction is driven by ``run`` options placed before the first path: ``--fields
a.b,c.d[arg]`` adds a ``"fields"`` object to each JSON event record, ``--output FMT``
formats ``%a.b`` tokens like Falco (``<NA>`` when absent), ``--filter EXPR`` keeps matching
events (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``contains``, ``startswith``,
``endswith``, ``in (...)``, ``exists``, with ``and``/``or``/``not``), ``--offsets`` passes
``value_offsets`` to 3.11+ plugins, ``--extract-threads N`` (with ``--inits N``) re-extracts
on N states from N threads and compares, and ``--extract-repeat K`` times K extra calls per
event and field (``extract_ns_per_call`` in the summary)::

    proc = run_host(["run", "--json", "--fields", "countdown.remaining", "libcountdown.so"])

Plugins with ``plugin_parse_event`` get every event of their sources (after sourcing, before
extraction; ``parse_calls`` and ``parse_failures`` in the summary). Parse and extract plugins
get the state tables API: the host owns a ``threads`` table (int64 tid key, libsinsp's field
names and types, nested ``file_descriptors``, ``args``, ``env`` and ``cgroups`` tables),
registers the tables plugins add, checks every handle a plugin passes in, and reports entries
not released before a call returns (``entry_leaks``). ``--thread-tid T`` stamps tid ``T`` on
plugin events (and adds thread ``T``), ``--threads-fixture JSON`` (or ``@FILE``) adds threads,
and ``--dump-table NAME`` prints a table after the capture as a ``{"table": ...}`` line::

    proc = run_host(["run", "--json", "--thread-tid", "42", "--dump-table", "threads",
                     "libsource.so", "libparser.so"])

Async plugins get a thread-safe handler through ``set_async_event_handler`` once the sources
are open (cleared with ``NULL`` after the captures). The host checks each event (type 402,
plugin id / name / data, the name among ``get_async_events``), queues a copy (up to 4096 per
stream; a full queue refuses after ~50 ms) and delivers it between the batches of the first
source that ``get_async_event_sources`` accepts, else on its own ``"syscall"`` stream, as a
``{"plugin": ..., "async": true, "name": ..., "data_hex": ..., "source": ...}`` record
(parsed like other events of that source; no field extraction or filter). The summary gains
``async_events`` and ``async_refused``. ``--async-wait MS`` keeps delivering (and routines
running) for MS ms after the sources end, ``--async-reset`` sets, clears and sets the handler
again before the capture, and ``--dump-state`` calls ``dump_state`` after it (records with
``"dump": true``). Capture listening plugins get ``capture_open`` / ``capture_close`` with the
tables vtables and a routine pool (``--routine-threads N``, default 2; ``routine_calls`` in the
summary)::

    proc = run_host(["run", "--json", "--async-wait", "200", "libasync.so"])

``python -m falco_plugin.host ARGS...`` runs the host directly. The host does not link
libpython: a Python plugin starts its own interpreter, as it does inside Falco.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["HostBuildError", "cache_dir", "host_binary", "parse_json_lines", "run_host"]

HOST_SOURCES = ("host.c", "fp_abi.h")
CFLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra")
LIBS = ("-ldl", "-lpthread")

_lock = threading.Lock()
_built: dict[tuple[str, ...], Path] = {}


class HostBuildError(RuntimeError):
    """The C host could not be compiled; the message carries the compiler's output."""


def cache_dir() -> Path:
    """The SDK's cache: ``$FALCO_PLUGIN_CACHE``, else ``$XDG_CACHE_HOME/falco-plugin``,
    else ``~/.cache/falco-plugin``."""
    env = os.environ.get("FALCO_PLUGIN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "falco-plugin"


def _compiler() -> list[str]:
    cc = shlex.split(os.environ.get("CC") or "cc")
    if not cc:
        raise HostBuildError("the C compiler command ($CC) is empty")
    return cc


def _sources() -> dict[str, bytes]:
    native = resources.files("falco_plugin").joinpath("_native")
    out: dict[str, bytes] = {}
    for name in HOST_SOURCES:
        try:
            out[name] = native.joinpath(name).read_bytes()
        except OSError as exc:
            raise HostBuildError(f"the host source _native/{name} is missing: {exc}") from exc
    return out


def _compiler_identity(cc: list[str]) -> str:
    """What ``cc --version`` says, so that a different compiler gives a different binary."""
    try:
        proc = subprocess.run(
            [*cc, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostBuildError(
            f"cannot run the C compiler {shlex.join(cc)!r} (set $CC to a working compiler): {exc}"
        ) from exc
    return proc.stdout + proc.stderr


def _build(cc: list[str]) -> Path:
    sources = _sources()
    digest = hashlib.sha256()
    for name in HOST_SOURCES:
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    digest.update(shlex.join([*cc, *CFLAGS, *LIBS]).encode() + b"\0")
    digest.update(_compiler_identity(cc).encode())
    out = cache_dir() / "host" / f"fp-host-{digest.hexdigest()[:20]}"
    if out.is_file() and os.access(out, os.X_OK):
        return out

    out.parent.mkdir(parents=True, exist_ok=True)
    # build next to the target so that the final rename is atomic (same file system):
    # concurrent builders each rename a complete binary, never a partial one
    with tempfile.TemporaryDirectory(prefix=".fp-host-build-", dir=out.parent) as tmp:
        work = Path(tmp)
        for name, data in sources.items():
            (work / name).write_bytes(data)
        tmp_out = work / out.name
        cmd = [*cc, *CFLAGS, "-o", str(tmp_out), str(work / "host.c"), *LIBS]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HostBuildError(f"cannot run the C compiler: {shlex.join(cmd)}\n{exc}") from exc
        if proc.returncode != 0 or not tmp_out.is_file():
            raise HostBuildError(
                f"compiling the SDK host failed (exit code {proc.returncode}):\n"
                f"$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}"
            )
        tmp_out.chmod(0o755)
        os.replace(tmp_out, out)
    return out


def host_binary() -> Path:
    """The path of the compiled host, compiling it first when the cache has no current build.

    Raises :class:`HostBuildError` (a ``RuntimeError``) with the compiler's output on failure.
    """
    cc = _compiler()
    key = (*cc, str(cache_dir()))
    with _lock:
        known = _built.get(key)
        if known is not None and known.is_file():
            return known
        path = _build(cc)
        _built[key] = path
        return path


def run_host(
    args: Sequence[str],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the host with ``args`` (e.g. ``["run", "--json", "lib.so"]``) and capture its output.

    The exit code is not checked: 0 means success, 1 a plugin or host error (reported on
    stderr, or as an ``{"error": ...}`` line on stdout with ``--json``), 2 a usage error.
    """
    return run_program([str(host_binary()), *args], timeout=timeout, env=env)


def run_program(
    cmd: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a test program (a host or driver) and capture its output as text, unchecked."""
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

    Lines that are not JSON objects (e.g. a plugin printing to stdout) are skipped, or raise
    ``ValueError`` when ``strict`` is true.
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m falco_plugin.host ARGS...``: run the host with the given arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        binary = host_binary()
    except HostBuildError as exc:
        print(f"falco-plugin: {exc}", file=sys.stderr)
        return 2
    return subprocess.run([str(binary), *args], check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
