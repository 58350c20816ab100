"""``falco-plugin package``: a plugin and everything it runs on, in one tarball.

The tarball holds ``lib<NAME>.so`` at the top and its package folder ``lib<NAME>.python/``
beside it; extracted into any folder (Falco's ``/usr/share/falco/plugins/``), the library
loads in a Falco with no Python installed:

- ``stdlib/`` the standard-library modules the plugin needs (compiled) and their extension
  modules (``stdlib/lib-dynload/``), see :mod:`.analysis`;
- ``plugin/`` the plugin's own code, ``vendor/`` the pure-Python third-party distributions
  it imports and ``site/`` those with extension modules (whole, with their metadata),
  ``sdk/`` the SDK's run-time modules: the roots of the plugin's import space, relative to
  the library (``$ORIGIN``);
- ``lib/`` system libraries the extension modules need beyond glibc, and libpython itself
  when it is shipped rather than linked in (see :mod:`.native`).

The library bakes in the manifest of that folder (path, size and SHA-256 of every file),
the CPU architecture and the glibc version the package needs; ``_packaged.py`` checks them
at init. The package is reproducible: the same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import marshal
import os
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import Distribution
from pathlib import Path

from .. import _packaged, _space
from .. import libpython as pylib
from ..build import BuildError, _compile, c_bytes, c_string, inspect_plugin
from ..loader import PluginRef
from ..validate import PluginMeta
from . import analysis, falcoctl, native, settings

PACKAGED_SOURCE = Path(_packaged.__file__).read_text(encoding="utf-8")
STDLIB_PATHS = ("stdlib", "stdlib/lib-dynload")


@dataclass
class Package:
    """What ``package`` made, and what it measured."""

    tarball: Path
    library: str  # lib<NAME>.so
    folder: str  # lib<NAME>.python
    libpython: str  # "static" or "shared" (falco_plugin.libpython)
    min_glibc: str
    arch: str
    files: int
    size: int  # bytes of the tarball
    meta: PluginMeta
    missing: list[str] = field(default_factory=list)  # imports the analysis did not find
    rules_tarball: Path | None = None
    artifacts: dict[str, object] = field(default_factory=dict)  # falcoctl's, see .falcoctl


def folder_name(name: str) -> str:
    return f"lib{name}.python"


def _pyc(source: bytes, display_name: str) -> bytes:
    """Bytecode of a module, as a sourceless ``.pyc`` (hash-based header: reproducible)."""
    code = compile(source, display_name, "exec", dont_inherit=True)
    flags = (0b01).to_bytes(4, "little")  # hash-based, not checked (there is no source)
    return (
        importlib.util.MAGIC_NUMBER
        + flags
        + importlib.util.source_hash(source)
        + marshal.dumps(code)
    )


class _Tree:
    """The package folder being written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, rel: str, data: bytes, mode: int = 0o644) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)

    def module(self, rel_py: str, source_file: Path) -> None:
        """A Python file as its compiled ``.pyc``, an extension module without its debugging
        symbols, any other file as it is."""
        if source_file.suffix == ".py":
            self.put(rel_py[:-3] + ".pyc", _pyc(source_file.read_bytes(), rel_py))
        elif native.is_elf(source_file):
            (self.root / rel_py).parent.mkdir(parents=True, exist_ok=True)
            native.strip_copy(source_file, self.root / rel_py)
        else:
            self.put(rel_py, source_file.read_bytes())

    def manifest(self) -> str:
        """One ``path<TAB>size<TAB>sha256`` line per file, sorted."""
        lines = []
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            rel = path.relative_to(self.root).as_posix()
            lines.append(f"{rel}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}")
        return "\n".join(lines)


def _module_rel(name: str, path: Path) -> str:
    """The path of module ``name`` (file ``path``) under its root."""
    parts = name.split(".")
    if path.stem == "__init__":
        return "/".join(parts) + "/__init__" + path.suffix
    if path.suffix == ".py":
        return "/".join(parts) + ".py"
    return "/".join(parts[:-1] + [path.name])  # an extension module keeps its file name


def _write_stdlib(tree: _Tree, selection: analysis.Selection) -> None:
    dynload = {p.resolve() for p in analysis.stdlib_folders()[1:]}
    for name, path in sorted(selection.stdlib.items()):
        if path.parent in dynload and path.suffix != ".py":
            tree.module(f"stdlib/lib-dynload/{path.name}", path)
        else:
            tree.module("stdlib/" + _module_rel(name, path), path)


def _compiled(dist: Distribution) -> bool:
    """Whether a distribution holds extension modules (compiled code)."""
    return any(str(entry).endswith(analysis.EXTENSION_SUFFIXES) for entry in dist.files or ())


def _write_distributions(tree: _Tree, selection: analysis.Selection) -> None:
    """Pure-Python distributions go to ``vendor/``, a private root: each plugin has its own
    copy (two plugins may use two versions). Those with extension modules go to ``site/``,
    a shared root: an extension module loads once per process, so plugins share one version
    (and a second plugin with another version gets a clear error)."""
    for dist in selection.distributions.values():
        base = Path(str(dist.locate_file("")))
        where = "site/" if _compiled(dist) else "vendor/"
        for entry in dist.files or ():
            rel = entry.as_posix()
            if rel.startswith("..") or "__pycache__" in entry.parts or entry.suffix == ".pyc":
                continue
            if entry.parts[0].endswith(".dist-info") and entry.name in (
                "RECORD",
                "INSTALLER",
                "REQUESTED",
                "direct_url.json",
            ):
                continue
            source = base / entry
            if source.is_file():
                tree.module(where + rel, source)
    for name, path in selection.loose.items():
        tree.module("site/" + _module_rel(name, path), path)


def _write_code(
    tree: _Tree, selection: analysis.Selection, ref: PluginRef, module_name: str, data: list[str]
) -> None:
    for name, path in sorted(selection.sdk.items()):
        tree.module("sdk/" + _module_rel(name, path), path)
    for name, path in sorted(selection.private.items()):
        tree.module("plugin/" + _module_rel(name, path), path)
    if ref.module_file:
        tree.module(f"plugin/{module_name}.py", Path(ref.module_file))
    own = Path(os.path.dirname(ref.module_file) if ref.module_file else os.getcwd())
    for rel in data:
        source = (own / rel).resolve()
        if not source.is_file() or own.resolve() not in source.parents:
            raise BuildError(f"include {rel!r}: no such file in the plugin's folder {own}")
        tree.put("plugin/" + source.relative_to(own.resolve()).as_posix(), source.read_bytes())


def _module_name(ref: PluginRef) -> str:
    """The name the plugin module is imported by in the package (its file's stem, when
    that is a module name nothing else uses)."""
    if not ref.module_file:
        return ref.module_name
    stem = Path(ref.module_file).stem
    if stem.isidentifier() and stem not in analysis.sys.stdlib_module_names:
        return stem
    return "falco_plugin_main"


def _defines(
    meta: PluginMeta,
    folder: str,
    module: str,
    manifest: str,
    glibc: str,
    preload: list[str],
    native_files: list[str],
) -> dict[str, str]:
    space_code = marshal.dumps(
        compile(PACKAGED_SOURCE, "<falco_plugin._packaged, baked>", "exec", dont_inherit=True)
    )
    return {
        "FP_PACKAGED": "1",
        "FP_PACKAGE_DIR": c_string(folder),
        "FP_STDLIB_PATHS": c_string("\n".join(STDLIB_PATHS)),
        "FP_MANIFEST": c_string(manifest),
        "FP_MIN_GLIBC": c_string(glibc),
        "FP_TARGET_ARCH": c_string(native.target_arch()),
        "FP_PRELOAD": c_string("\n".join(f"lib/{name}" for name in preload)),
        "FP_NATIVE_FILES": c_string("\n".join(native_files)),
        "FP_PACKAGE_CODE": c_bytes(space_code),
        "FP_PY_EXECUTABLE": c_string(f"{folder} (packaged Python {sys.version.split()[0]})"),
        "FP_MODULE_FILE": c_string(""),
        "FP_MODULE_NAME": c_string(module),
    }


def package(
    target: str,
    output: str | os.PathLike[str] | None = None,
    *,
    include: Iterable[str] = (),
    libpython: str = pylib.AUTO,
    cc: str | None = None,
    min_glibc: str | None = None,
    rules: Sequence[str | os.PathLike[str]] = (),
) -> Package:
    """Package plugin ``target`` into a tarball (default: ``./<NAME>-<VERSION>-<arch>.tar.gz``).

    ``include``: modules or data files the analysis cannot see (added to the
    ``[tool.falco-plugin] include`` of the plugin's pyproject.toml); ``libpython``: see
    :func:`native.choose_libpython`; ``min_glibc``: the oldest glibc the package accepts at
    init (default: the newest one its ELF files need; a higher floor only); ``rules``: rules
    files, packaged beside as ``NAME-rules-VERSION.tar.gz`` (falcoctl's rulesfile).
    """
    meta = inspect_plugin(target)
    ref = meta.ref
    include = [*settings.settings(ref).include, *include]
    modules = [i for i in include if "/" not in i and not i.endswith(tuple(_DATA_SUFFIXES))]
    data = [i for i in include if i not in modules]
    compiler = cc or os.environ.get("CC") or "cc"
    mode = native.choose_libpython(libpython, compiler)
    selection = analysis.analyse(ref, modules)
    folder = folder_name(meta.name)
    out = (
        Path(output)
        if output
        else Path.cwd() / f"{meta.name}-{meta.version}-{native.target_arch()}.tar.gz"
    )

    with tempfile.TemporaryDirectory(prefix="falco-plugin-package-") as tmp:
        stage = Path(tmp) / "stage"
        tree = _Tree(stage / folder)
        module = _module_name(ref)
        _write_stdlib(tree, selection)
        _write_code(tree, selection, ref, module, data)
        _write_distributions(tree, selection)
        elves = [
            p
            for p in tree.root.rglob("*")
            if p.is_file() and p.suffix != ".pyc" and native.is_elf(p)
        ]
        preload = native.ship_system_libraries(elves, tree.root / "lib")
        native_files = [f"lib/{name}" for name in preload]
        if mode == native.SHARED:
            libpy = pylib.shared_library()
            assert libpy is not None
            native.strip_copy(libpy, tree.root / "lib" / libpy.name)
            native_files.append(f"lib/{libpy.name}")
            link = native.shared_link_args(folder)
        else:
            archive = pylib.static_archive()
            assert archive is not None
            link = pylib.static_link_args(archive)
        manifest = tree.manifest()
        library = stage / f"lib{meta.name}.so"
        glibc_files = [p for p in tree.root.rglob("*") if p.is_file() and native.is_elf(p)]
        roots = [
            _space.Root(_space.PRIVATE, f"$ORIGIN/{folder}/plugin"),
            _space.Root(_space.PRIVATE, f"$ORIGIN/{folder}/vendor"),
            _space.Root(_space.SDK, f"$ORIGIN/{folder}/sdk"),
            _space.Root(_space.SHARED, f"$ORIGIN/{folder}/site"),
        ]
        defines = _defines(meta, folder, module, manifest, "", [], [])
        # the library's own glibc needs count too: compile once to read them
        _compile(meta, library, compiler, roots, extra=defines, link=[*link, "-s"])
        glibc = native.min_glibc([library, *glibc_files])
        if min_glibc and native.version_key(min_glibc) > native.version_key(glibc):
            glibc = min_glibc
        defines = _defines(meta, folder, module, manifest, glibc, preload, native_files)
        _compile(meta, library, compiler, roots, extra=defines, link=[*link, "-s"])
        library.chmod(0o755)
        files = _write_tarball(stage, out)
    rules_files = [Path(r) for r in rules]
    rules_tar = None
    if rules_files:
        for path in rules_files:
            falcoctl.read_rules(path)  # a readable rules list, or a clear error
        rules_tar = falcoctl.rules_tarball(
            rules_files, out.with_name(f"{falcoctl.rules_name(meta.name)}-{meta.version}.tar.gz")
        )
    return Package(
        tarball=out.resolve(),
        rules_tarball=rules_tar.resolve() if rules_tar else None,
        artifacts=falcoctl.artifacts(meta, out, rules_files, rules_tar),
        library=library.name,
        folder=folder,
        libpython=mode,
        min_glibc=glibc,
        arch=native.target_arch(),
        files=files,
        size=out.stat().st_size,
        meta=meta,
        missing=selection.missing,
    )


_DATA_SUFFIXES = (".json", ".yaml", ".yml", ".txt", ".toml", ".csv", ".pem", ".dat")


def _write_tarball(stage: Path, out: Path) -> int:
    """A reproducible tar.gz of ``stage``'s contents: sorted, owned by root, no times, only
    folders and regular files (falcoctl refuses links)."""
    entries = sorted(stage.rglob("*"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
        return info

    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz,
    ):
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in entries:
                if path.is_symlink():
                    raise BuildError(f"{path}: links cannot go into a falcoctl artifact")
                tar.add(
                    path, arcname=path.relative_to(stage).as_posix(), recursive=False, filter=clean
                )
    os.replace(tmp, out)
    return sum(1 for p in entries if p.is_file())


def package_info(pkg: Package) -> dict[str, object]:
    """What a package is, for humans and tools (printed by the CLI as JSON)."""
    return {
        "tarball": str(pkg.tarball),
        "library": pkg.library,
        "folder": pkg.folder,
        "libpython": pkg.libpython,
        "python": sys.version.split()[0],
        "arch": pkg.arch,
        "min_glibc": pkg.min_glibc,
        "files": pkg.files,
        "size": pkg.size,
        "rules_tarball": str(pkg.rules_tarball) if pkg.rules_tarball else None,
        "falcoctl": pkg.artifacts,
    }


__all__ = ["Package", "package", "package_info"]
