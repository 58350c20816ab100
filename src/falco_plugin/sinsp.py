"""``fp-sinsp``, the test driver for the REAL libsinsp: plugins run where Falco runs them.

The SDK's own host (:mod:`falco_plugin.host`) imitates libsinsp; this driver *is* libsinsp: a
small C++ program (``_native/sinsp_driver/``) compiled on demand against ``pkg-config
libsinsp`` of the real-host install (``$FALCO_PLUGIN_REALHOST/lib/pkgconfig``, or the
``PKG_CONFIG_PATH`` in effect) with ``$CXX`` (else ``c++``), cached like the host::

    proc = run_driver(["--field", "countdown.remaining", "libcountdown.so",
                       "--open-params", "3"])

The driver's sources are the files of ``_native/sinsp_driver/`` (one job each, see
``driver.h``). It registers and inits the plugins as Falco does, opens the first source
plugin (or a scap file with ``--capture``), reads every event through ``sinsp::next`` and
prints JSON lines shaped like the SDK host's ``run --json`` (events, async events, progress,
metrics, tables, summary, errors), so :func:`falco_plugin.testing.run_capture` reads both
the same way.
``python -m falco_plugin.sinsp --help`` shows every option.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from .host import cache_dir, extra_cflags, run_program
from .realhost import ENV, RealHostError, prefix

__all__ = ["DRIVER_DIR", "SinspBuildError", "driver_binary", "run_driver"]

DRIVER_DIR = "sinsp_driver"
CXXFLAGS = ("-std=c++17", "-O1", "-Wall")

_lock = threading.Lock()
_built: dict[tuple[str, ...], Path] = {}


class SinspBuildError(RealHostError):
    """The driver could not be compiled (no libsinsp development files, a compiler error)."""


def _run(
    cmd: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=600, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SinspBuildError(f"cannot run {shlex.join(cmd)}: {exc}") from exc


def _pkg_config_env(root: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if root is not None:
        paths = [str(root / "lib" / "pkgconfig"), env.get("PKG_CONFIG_PATH", "")]
        env["PKG_CONFIG_PATH"] = os.pathsep.join(p for p in paths if p)
    return env


def _libsinsp_flags(root: Path | None) -> tuple[list[str], list[str], str]:
    """``pkg-config``'s compile flags, link flags and a fingerprint of the libraries."""
    env = _pkg_config_env(root)
    pkg_config = os.environ.get("PKG_CONFIG") or "pkg-config"
    cflags = _run([pkg_config, "--cflags", "libsinsp"], env)
    libs = _run([pkg_config, "--libs", "libsinsp"], env)
    libdir = _run([pkg_config, "--variable=libdir", "libsinsp"], env)
    if cflags.returncode or libs.returncode:
        where = f"{ENV}={root}" if root is not None else "PKG_CONFIG_PATH"
        raise SinspBuildError(
            f"pkg-config finds no libsinsp through {where} (a real-host install made with "
            f"install.sh --dev has lib/pkgconfig/libsinsp.pc): {cflags.stderr.strip()}"
        )
    fingerprint = []
    archive = Path(libdir.stdout.strip()) / "libsinsp.a"
    if archive.is_file():  # a rebuilt libsinsp in the same place gives a new driver
        st = archive.stat()
        fingerprint.append(f"{archive}:{st.st_size}:{st.st_mtime_ns}")
    return shlex.split(cflags.stdout), shlex.split(libs.stdout), "\n".join(fingerprint)


def _compile(root: Path | None) -> Path:
    cxx = shlex.split(os.environ.get("CXX") or "c++")
    if not cxx:
        raise SinspBuildError("the C++ compiler command ($CXX) is empty")
    cxx += extra_cflags()  # e.g. sanitizers
    folder = resources.files("falco_plugin").joinpath("_native").joinpath(DRIVER_DIR)
    sources = {
        f.name: f.read_bytes()
        for f in sorted(folder.iterdir(), key=lambda f: f.name)
        if f.name.endswith((".cpp", ".h"))
    }
    cflags, libs, fingerprint = _libsinsp_flags(root)
    version = _run([*cxx, "--version"])
    digest = hashlib.sha256()
    for name, text in sources.items():
        digest.update(name.encode() + b"\0" + text + b"\0")
    for part in (shlex.join([*cxx, *CXXFLAGS, *cflags, *libs]).encode(),
                 version.stdout.encode(), fingerprint.encode()):  # fmt: skip
        digest.update(part + b"\0")
    out = cache_dir() / "sinsp" / f"fp-sinsp-{digest.hexdigest()[:20]}"
    if out.is_file() and os.access(out, os.X_OK):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fp-sinsp-build-", dir=out.parent) as tmp:
        units = []
        for name, text in sources.items():
            (Path(tmp) / name).write_bytes(text)
            if name.endswith(".cpp"):
                units.append(str(Path(tmp) / name))
        tmp_out = Path(tmp) / out.name
        cmd = [*cxx, *CXXFLAGS, "-o", str(tmp_out), *units, *cflags, *libs]
        proc = _run(cmd)
        if proc.returncode != 0 or not tmp_out.is_file():
            raise SinspBuildError(
                f"compiling the libsinsp driver failed (exit code {proc.returncode}):\n"
                f"$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}"
            )
        os.replace(tmp_out, out)  # atomic: concurrent builders never see half a binary
    return out


def driver_binary(root: Path | None = None) -> Path:
    """The compiled driver (built once per cache, libsinsp and source version), against the
    real-host install ``root`` (default: ``$FALCO_PLUGIN_REALHOST``)."""
    root = root if root is not None else prefix()
    key = (str(root), str(cache_dir()), os.environ.get("CXX", ""), *extra_cflags())
    with _lock:
        known = _built.get(key)
        if known is None or not known.is_file():
            known = _built[key] = _compile(root)
        return known


def run_driver(
    args: Sequence[str],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the driver with ``args`` and capture its output (the exit status is not checked:
    1 means a plugin or libsinsp error, reported as an ``{"error": ...}`` line)."""
    return run_program([str(driver_binary(root)), *args], timeout=timeout, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m falco_plugin.sinsp ARGS...``: run the driver with the given arguments."""
    try:
        binary = driver_binary()
    except RealHostError as exc:
        print(f"falco-plugin: {exc}", file=sys.stderr)
        return 2
    return subprocess.run([str(binary), *(sys.argv[1:] if argv is None else argv)]).returncode


if __name__ == "__main__":
    raise SystemExit(main())
