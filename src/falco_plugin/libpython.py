"""Which libpython a plugin library gets, and how it is linked.

- **static** (preferred): the interpreter's static library (``libpython3.X.a`` in its
  config folder, from ``libpython3.X-dev`` or a source build) linked whole into the library,
  when it links into a shared object (it must be position-independent: tried once per
  archive and remembered). The library then loads on any machine with a recent enough
  glibc: a development build moved elsewhere fails *init* with a message, and a packaged one
  carries its Python.
- **shared**: the interpreter's ``libpython3.X.so``, found where it lies (a development
  build: absolute rpath) or shipped beside a packaged library (``$ORIGIN``).

Either way every C API symbol is exported from the process's one libpython, which the shim
makes global when the library is loaded (extension modules need them).
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from ._cache import cache_dir

STATIC, SHARED, AUTO = "static", "shared", "auto"
SYSTEM_LINK = ["-lm", "-ldl", "-lpthread", "-lutil"]


def static_archive() -> Path | None:
    """This interpreter's static libpython, or None."""
    name = sysconfig.get_config_var("LIBRARY") or ""
    folder = sysconfig.get_config_var("LIBPL") or ""
    path = Path(folder) / name
    return path if name.endswith(".a") and path.is_file() else None


def shared_library() -> Path | None:
    """This interpreter's shared libpython (its soname), or None."""
    name = sysconfig.get_config_var("INSTSONAME") or ""
    path = Path(sysconfig.get_config_var("LIBDIR") or "") / name
    return path if name and ".so" in name and path.is_file() else None


def static_link_args(archive: Path) -> list[str]:
    """Link the whole archive in (extension modules need every C API symbol, exported),
    without its debugging information."""
    return ["-Wl,--whole-archive", str(archive), "-Wl,--no-whole-archive", "-Wl,-S", *SYSTEM_LINK]


def shared_link_args(runpath: str) -> list[str]:
    """Link against the shared libpython, found at run time in ``runpath``."""
    ldversion = sysconfig.get_config_var("LDVERSION") or sysconfig.get_python_version()
    return [
        f"-L{sysconfig.get_config_var('LIBDIR')}",
        f"-Wl,-rpath,{runpath}",
        f"-lpython{ldversion}",
        *SYSTEM_LINK,
    ]


def archive_key() -> str:
    """What identifies the static archive (for build caches): path, size, time."""
    archive = static_archive()
    if archive is None:
        return ""
    stat = archive.stat()
    return f"{archive}:{stat.st_size}:{stat.st_mtime_ns}"


def static_links(cc: str) -> bool:
    """Whether the static libpython links into a shared object (it is PIC), tried once per
    archive and compiler (the answer is kept in the SDK's cache)."""
    archive = static_archive()
    if archive is None:
        return False
    key = hashlib.sha256(f"{archive_key()}:{cc}".encode()).hexdigest()[:20]
    mark = cache_dir() / "libpython-pic" / key
    if mark.exists():
        return mark.read_text() == "yes"
    with tempfile.TemporaryDirectory(prefix="falco-plugin-pic-") as tmp:
        probe = Path(tmp) / "probe.c"
        probe.write_text("int fp_probe(void);\nint fp_probe(void) { return 0; }\n")
        cmd = [*shlex.split(cc), "-shared", "-fPIC", str(probe), "-o", str(Path(tmp) / "p.so")]
        ok = subprocess.run([*cmd, *static_link_args(archive)], capture_output=True).returncode
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text("yes" if ok == 0 else "no")
    return ok == 0


def development_link(cc: str) -> list[str]:
    """How a development build links libpython: static when it can (the library then loads
    anywhere and says at init that it must be packaged), else the shared one where it is."""
    archive = static_archive()
    if archive is not None and static_links(cc):
        return static_link_args(archive)
    return shared_link_args(str(sysconfig.get_config_var("LIBDIR")))
