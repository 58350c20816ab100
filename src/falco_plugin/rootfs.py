"""Run packaged plugins in the real Falco on a system with no Python at all (for tests).

The realhost bundle's ``falco-rootfs.sh`` builds a minimal Debian root filesystem with Falco
and no Python (as Falco's container image); tests find it through two variables::

    FALCO_PLUGIN_ROOTFS=DIR                      # the root filesystem (built, as root)
    FALCO_PLUGIN_ROOTFS_SCRIPT=.../falco-rootfs.sh

and skip with one line when they are unset (fail instead with
``FALCO_PLUGIN_ROOTFS_REQUIRED=1``, as in CI). :func:`install` extracts a package tarball to a
new folder inside the root filesystem (a path the build machine never had), and
:func:`run_falco` runs Falco there with a generated falco.yaml, like
:func:`falco_plugin.realhost.run_falco` (the same :class:`~falco_plugin.realhost.FalcoRun`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .realhost import FalcoPlugin, FalcoRun, _falco_run, falco_config

ENV = "FALCO_PLUGIN_ROOTFS"
SCRIPT_ENV = "FALCO_PLUGIN_ROOTFS_SCRIPT"
REQUIRED_ENV = "FALCO_PLUGIN_ROOTFS_REQUIRED"
FALCO = "/opt/falco/bin/falco"  # where falco-rootfs.sh installs Falco


@dataclass(frozen=True)
class RootFs:
    """A built root filesystem and the script that runs commands in it."""

    root: Path
    script: Path

    def host_path(self, inside: str) -> Path:
        """The build machine's path of a path inside the root filesystem."""
        return self.root / inside.lstrip("/")

    def run(self, cmd: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` chrooted in the root filesystem (its environment: the script's)."""
        return subprocess.run(
            [str(self.script), "--run", str(self.root), "--", *cmd],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )


def find() -> RootFs | None:
    """The root filesystem the variables name, or None."""
    root, script = os.environ.get(ENV, ""), os.environ.get(SCRIPT_ENV, "")
    if not root or not script:
        return None
    if not (Path(root) / "opt/falco/bin/falco").is_file() or not Path(script).is_file():
        return None
    return RootFs(Path(root), Path(script))


def require() -> RootFs:
    """For tests: the root filesystem, or pytest.skip with one line (pytest.fail when
    ``$FALCO_PLUGIN_ROOTFS_REQUIRED`` says it must be there)."""
    import pytest

    found = find()
    if found is not None:
        if os.geteuid() != 0:
            pytest.skip("running Falco in the root filesystem needs root (chroot, mounts)")
        return found
    if os.environ.get(REQUIRED_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRED_ENV} is set but {ENV}/{SCRIPT_ENV} name no built root filesystem")
    pytest.skip(
        f"no Falco root filesystem without Python: set {ENV}=DIR (built as root by "
        f"shared/realhost/falco-rootfs.sh DIR) and {SCRIPT_ENV}=that script"
    )


@contextmanager
def install(rootfs: RootFs, tarball: str | os.PathLike[str]) -> Iterator[str]:
    """Extract a package tarball into a new folder of the root filesystem; yields that
    folder's path inside it, and removes it afterwards."""
    inside = f"/opt/falco-plugins-{secrets.token_hex(4)}"
    folder = rootfs.host_path(inside)
    folder.mkdir(parents=True)
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(folder, filter="data")
        yield inside
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def install_files(rootfs: RootFs, files: Sequence[str | os.PathLike[str]]) -> Iterator[str]:
    """Copy files into a new folder of the root filesystem; yields that folder's path inside
    it, and removes it afterwards."""
    inside = f"/opt/falco-plugins-{secrets.token_hex(4)}"
    folder = rootfs.host_path(inside)
    folder.mkdir(parents=True)
    try:
        for path in files:
            shutil.copy(path, folder)
        yield inside
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_falco(
    rootfs: RootFs,
    plugins: Sequence[FalcoPlugin],
    rules: Sequence[str],
    *,
    options: Sequence[str] = ("--disable-source", "syscall"),
    timeout: float = 120,
) -> FalcoRun:
    """Run Falco inside the root filesystem with ``plugins`` (library paths inside it, names
    given) and ``rules`` (YAML texts) until its sources end."""
    inside = f"/tmp/falco-plugin-run-{secrets.token_hex(4)}"
    work = rootfs.host_path(inside)
    work.mkdir(parents=True)
    try:
        rules_files = []
        for number, text in enumerate(rules):
            (work / f"rules{number}.yaml").write_text(text, encoding="utf-8")
            rules_files.append(f"{inside}/rules{number}.yaml")
        config = falco_config(plugins, rules_files, rootfs.root)
        (work / "falco.yaml").write_text(json.dumps(config, indent=1), encoding="utf-8")
        proc = rootfs.run([FALCO, "-c", f"{inside}/falco.yaml", *options], timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _falco_run(proc.returncode, proc.stdout, proc.stderr, config)
