"""The native side of a package: which libpython goes in, and what the ELF files need.

The Python runtime goes into the package one of two ways (see ``falco_plugin.libpython``),
chosen automatically: **static**, linked whole into the plugin library, when the
interpreter's static libpython links into a shared object; else **shared**, its
``libpython3.X.so.1.0`` shipped in the package and found relative to the library
(``DT_RUNPATH`` ``$ORIGIN/...``).

The ELF files of the package (the library, extension modules, shipped libraries) are read
with pyelftools for what the target must provide: the glibc version they need, and the
system libraries outside glibc that are then shipped too.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Iterable
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from .. import libpython
from ..build import BuildError
from ..libpython import AUTO, SHARED, STATIC, shared_library, static_archive, static_links

# libraries of glibc itself: every Linux target has them, in the version checked at init
GLIBC_LIBS = re.compile(r"^(libc|libm|libpthread|libdl|librt|libutil|libresolv|ld-linux.*)\.so")


def choose_libpython(mode: str, cc: str) -> str:
    """STATIC or SHARED for ``mode`` (AUTO: static when it links); BuildError when the
    interpreter has neither."""
    if mode not in (STATIC, SHARED, AUTO):
        raise BuildError(f"unknown libpython mode {mode!r} (static, shared or auto)")
    if mode in (STATIC, AUTO) and static_links(cc):
        return STATIC
    if mode == STATIC:
        raise BuildError(
            f"this interpreter has no static libpython that links into a shared object "
            f"({static_archive() or 'no archive in ' + str(sysconfig.get_config_var('LIBPL'))}):"
            " use --libpython shared"
        )
    if shared_library() is None:
        raise BuildError("this interpreter has neither a static nor a shared libpython")
    return SHARED


def shared_link_args(package_dir: str) -> list[str]:
    """Link against the shipped libpython, found beside the library at run time."""
    return libpython.shared_link_args(f"$ORIGIN/{package_dir}/lib")


def strip_copy(source: Path, dest: Path) -> None:
    """Copy a shared library without its debugging symbols (its dynamic symbols stay) and
    without the build machine's folders in its search path (see :func:`relative_runpath`)."""
    shutil.copyfile(source, dest)
    strip = shutil.which("strip")
    if strip:
        subprocess.run([strip, "--strip-unneeded", str(dest)], check=True, capture_output=True)
    relative_runpath(dest)
    dest.chmod(0o755)


def relative_runpath(path: Path) -> None:
    """Drop the absolute folders from an ELF file's DT_RUNPATH / DT_RPATH, in place: an
    interpreter built with ``-Wl,-rpath,/its/prefix/lib`` (pyenv's) gives its libpython and
    extension modules a search path of the build machine. ``$ORIGIN``-relative entries (a
    wheel's bundled libraries) stay; an empty result becomes ``$ORIGIN``. The string is
    rewritten where it lies, padded with NULs (the file layout does not change)."""
    with open(path, "r+b") as f:
        elf = ELFFile(f)
        dynamic = elf.get_section_by_name(".dynamic")
        dynstr = elf.get_section_by_name(".dynstr")
        if not isinstance(dynamic, DynamicSection) or dynstr is None:
            return
        edits = []
        for tag in dynamic.iter_tags():
            if tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH"):
                old = str(getattr(tag, "runpath", "") or getattr(tag, "rpath", ""))
                keep = [c for c in old.split(":") if c.startswith("$ORIGIN")]
                new = (":".join(keep) or "$ORIGIN").encode()
                if new != old.encode() and len(new) <= len(old.encode()):
                    offset = dynstr["sh_offset"] + tag.entry.d_val
                    edits.append((offset, new.ljust(len(old.encode()), b"\0")))
        for offset, data in edits:
            f.seek(offset)
            f.write(data)


# ------------------------------------------------------------------ what ELF files need


def _elf(path: Path) -> tuple[list[str], list[str]]:
    """(DT_NEEDED sonames, GLIBC_x.y versions needed) of an ELF file."""
    needed: list[str] = []
    versions: list[str] = []
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                needed += [
                    getattr(t, "needed", "")
                    for t in section.iter_tags()
                    if t.entry.d_tag == "DT_NEEDED"
                ]
            elif isinstance(section, GNUVerNeedSection):
                for _lib, auxes in section.iter_versions():
                    versions += [a.name for a in auxes if a.name.startswith("GLIBC_")]
    return needed, versions


def is_elf(path: Path) -> bool:
    """Whether a file is an ELF object (a shared library, an extension module)."""
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def version_key(version: str) -> tuple[int, ...]:
    """The numbers of a dotted version ("2.36" -> (2, 36)), for comparisons."""
    return tuple(int(p) for p in re.findall(r"\d+", version))


def min_glibc(files: Iterable[Path]) -> str:
    """The newest GLIBC_x.y any of the ELF files needs ("" when none)."""
    best = (0, 0)
    for path in files:
        for version in _elf(path)[1]:
            parts = re.findall(r"\d+", version)
            if len(parts) >= 2:
                best = max(best, (int(parts[0]), int(parts[1])))
    return f"{best[0]}.{best[1]}" if best != (0, 0) else ""


def system_needs(files: Iterable[Path], provided: Iterable[str]) -> list[str]:
    """Sonames the ELF files need that are neither glibc's nor ``provided`` by the package."""
    have = set(provided)
    out: list[str] = []
    for path in files:
        for name in _elf(path)[0]:
            if not GLIBC_LIBS.match(name) and name not in have and name not in out:
                out.append(name)
    return out


def locate(soname: str, user: Path) -> Path:
    """Where the dynamic linker finds ``soname`` for ``user`` on this machine (ldd)."""
    proc = subprocess.run(["ldd", str(user)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        name, _, rest = line.strip().partition(" => ")
        if name == soname and rest.startswith("/"):
            return Path(rest.split(" (")[0]).resolve()
    raise BuildError(f"{user.name} needs {soname}, which this machine does not provide")


def ship_system_libraries(users: list[Path], lib_dir: Path) -> list[str]:
    """Copy the non-glibc libraries the ELF files ``users`` need (and what those need) into
    ``lib_dir``; returns their file names, dependencies first (the order to load them)."""
    shipped: list[str] = []
    pending = [(name, user) for user in users for name in system_needs([user], [])]
    visiting: set[str] = set()

    def ship(name: str, user: Path) -> None:
        if name in shipped or name in visiting:
            return
        visiting.add(name)
        source = locate(name, user)
        for dep in system_needs([source], []):
            ship(dep, source)
        lib_dir.mkdir(parents=True, exist_ok=True)
        strip_copy(source, lib_dir / name)
        shipped.append(name)

    for name, user in pending:
        ship(name, user)
    return shipped


def target_arch() -> str:
    """The CPU architecture the package runs on, as uname reports it."""
    return platform.machine()
