"""The C engine: compiled on demand, run as a child process that reads a plan and writes
records (``_native/host/proto.h``).

The engine is compiled from ``_native/host/*.c`` (and ``_native/fp_abi.h``) with the system
C compiler (``$CC``, else ``cc``) into the cache, under a name that hashes the sources and the
compiler, and reused from there. It never links libpython: a Python plugin starts its own
interpreter in it, as in Falco.

A :class:`Session` is one engine process: ``load`` sends the libraries and returns what they
say about themselves; ``run`` sends the rest of the plan and hands every record to a
callback. The plan and the records travel on their own pipes, so a plugin printing to
stdout never mixes with the host's output.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import IO

from .._cache import cache_dir
from .wire import Fields, Plan, Records

CFLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra")
LIBS = ("-ldl", "-lpthread")
ABI_HEADER = "fp_abi.h"

_lock = threading.Lock()
_built: dict[tuple[str, ...], Path] = {}


class HostBuildError(RuntimeError):
    """The C host could not be compiled; the message carries the compiler's output."""


def _compiler() -> list[str]:
    cc = shlex.split(os.environ.get("CC") or "cc")
    if not cc:
        raise HostBuildError("the C compiler command ($CC) is empty")
    return cc


def _sources() -> dict[str, bytes]:
    """The engine's sources by path relative to ``_native`` (the header included)."""
    native = resources.files("falco_plugin").joinpath("_native")
    out: dict[str, bytes] = {ABI_HEADER: native.joinpath(ABI_HEADER).read_bytes()}
    for entry in sorted(native.joinpath("host").iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".c", ".h")):
            out[f"host/{entry.name}"] = entry.read_bytes()
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


def extra_cflags() -> list[str]:
    """``$FALCO_PLUGIN_CFLAGS``: flags added to every C/C++ build of the SDK (plugins, this
    engine, the libsinsp driver), e.g. ``-fsanitize=address,undefined`` in the sanitizer job."""
    return shlex.split(os.environ.get("FALCO_PLUGIN_CFLAGS", ""))


def _build(cc: list[str]) -> Path:
    cc = [*cc, *extra_cflags()]
    try:
        sources = _sources()
    except OSError as exc:
        raise HostBuildError(f"the host sources in _native are missing: {exc}") from exc
    digest = hashlib.sha256()
    for name, data in sources.items():
        digest.update(name.encode() + b"\0" + data + b"\0")
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
        (work / "host").mkdir()
        for name, data in sources.items():
            (work / name).write_bytes(data)
        tmp_out = work / out.name
        units = [str(work / n) for n in sources if n.endswith(".c")]
        cmd = [*cc, *CFLAGS, f"-I{work}", "-o", str(tmp_out), *units, *LIBS]
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
    """The path of the compiled engine, compiling it first when the cache has no current build.

    Raises :class:`HostBuildError` (a ``RuntimeError``) with the compiler's output on failure.
    """
    cc = _compiler()
    key = (*cc, *extra_cflags(), str(cache_dir()))
    with _lock:
        known = _built.get(key)
        if known is not None and known.is_file():
            return known
        path = _build(cc)
        _built[key] = path
        return path


#: Where the engine's own stdout and stderr (the plugins' prints and crashes) go: a file the
#: child inherits, None to inherit ours, or a callable that receives the text as it comes.
Sink = IO[str] | Callable[[str], None] | None


class Session:
    """One engine process: ``load``, then ``run`` (or ``close``)."""

    def __init__(
        self, *, stdout: Sink = None, stderr: Sink = None, env: Mapping[str, str] | None = None
    ) -> None:
        self._sinks = (stdout, stderr)
        self._env = dict(env) if env is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._plan_w: int | None = None
        self._rec_r: int | None = None
        self._records = Records()
        self._pumps: list[threading.Thread] = []

    def _spawn(self) -> None:
        binary = host_binary()
        plan_r, plan_w = os.pipe()
        rec_r, rec_w = os.pipe()
        std: list[int | IO[str] | None] = []
        for sink in self._sinks:
            std.append(subprocess.PIPE if callable(sink) else sink)
        # $FALCO_PLUGIN_HOST_WRAPPER runs the engine under a tool: valgrind, strace, gdb -batch
        wrapper = shlex.split(os.environ.get("FALCO_PLUGIN_HOST_WRAPPER", ""))
        try:
            self._proc = subprocess.Popen(
                [*wrapper, str(binary), str(plan_r), str(rec_w)],
                stdin=subprocess.DEVNULL,
                stdout=std[0],
                stderr=std[1],
                pass_fds=(plan_r, rec_w),
                env=self._env,
            )
        finally:
            os.close(plan_r)
            os.close(rec_w)
        self._plan_w, self._rec_r = plan_w, rec_r
        for pipe, sink in (
            (self._proc.stdout, self._sinks[0]),
            (self._proc.stderr, self._sinks[1]),
        ):
            if pipe is not None and callable(sink):
                t = threading.Thread(target=_pump, args=(pipe, sink), daemon=True)
                t.start()
                self._pumps.append(t)

    def _send(self, message: bytes | None) -> None:
        if self._plan_w is None:
            return
        try:
            if message is not None:
                os.write(self._plan_w, message) if len(message) < 65536 else _write_all(
                    self._plan_w, message
                )
        except BrokenPipeError:
            pass
        finally:
            if message is None:
                os.close(self._plan_w)
                self._plan_w = None

    def records(self) -> Iterator[tuple[str, Fields]]:
        """Every record until the engine closes its channel (blocking)."""
        assert self._rec_r is not None
        while True:
            chunk = os.read(self._rec_r, 1 << 16)
            if not chunk:
                return
            yield from self._records.feed(chunk)

    def load(self, load: Plan) -> Iterator[tuple[str, Fields]]:
        """Starts the engine with the load message; yields records up to R_READY."""
        self._spawn()
        self._send(load.message())
        for kind, fields in self.records():
            yield kind, fields
            if kind == "R_READY":
                return

    def run(self, plan: Plan | None, on_record: Callable[[str, Fields], None]) -> int:
        """Sends the run message (None: stop), hands over every record, returns the engine's
        exit status."""
        if self._proc is None:  # stopped before the engine started (e.g. an unreadable capture)
            return 1
        self._send(plan.message() if plan is not None else None)
        self._send(None)
        for kind, fields in self.records():
            on_record(kind, fields)
        return self.wait()

    def signal(self, sig: int) -> None:
        """Forwards a signal to the engine (SIGINT or SIGTERM: it stops its captures)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def wait(self) -> int:
        assert self._proc is not None
        try:
            rc = self._proc.wait()
        except BaseException:
            self._proc.send_signal(signal.SIGTERM)
            raise
        finally:
            self.close()
        for t in self._pumps:
            t.join()
        return rc

    def close(self) -> None:
        self._send(None)
        if self._rec_r is not None:
            os.close(self._rec_r)
            self._rec_r = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pump(pipe: IO[bytes], sink: Callable[[str], None]) -> None:
    for line in iter(pipe.readline, b""):
        sink(line.decode("utf-8", "replace"))
    pipe.close()
