"""The bootstrap of a packaged plugin library (``falco-plugin package``).

A packaged library carries everything it runs on in a folder beside it (the package
folder): the standard library modules it needs, its extension modules, the SDK, the
plugin's own code and the third-party distributions it imports, all as compiled code. The
library bakes in a manifest of that folder (every file with its size and SHA-256), and the C
shim runs this module (baked as bytecode) before anything of the package is imported:

- :func:`activate` checks that every file of the manifest is there with its size, adds the
  package's standard library to ``sys.path`` when another library started the interpreter,
  and installs the checks below;
- the package's finders see only the files of the manifest (a file left by an older version
  or added later is never found), and every module read from the package folder (bytecode
  or an extension module, before it is loaded) is checked against its digest, so the code
  that runs is the code that was packaged: a file that differs fails the import with a
  message saying so (and which file);
- a module the package lacks fails with a message naming it and saying how to add it
  (the import space and :class:`_MissingStdlib` ask :meth:`Checker.missing_hint`).

This module uses only the standard library and imports almost nothing: it runs first.
"""

from __future__ import annotations

import importlib.machinery as machinery
import os
import sys
import types

TYPE_CHECKING = False  # typing (and the contextlib it imports) would cost millions at init
if TYPE_CHECKING:
    from typing import Any

INCLUDE_HINT = (
    "add it to the package with `falco-plugin package --include {name}` or "
    '`include = ["{name}"]` under [tool.falco-plugin] in pyproject.toml'
)


class PackageError(RuntimeError):
    """The package folder is not what the library was packaged with. Not an ImportError:
    code that falls back when an optional module is missing (``try: import _json``) must
    not quietly go on without a module that was changed."""


class Checker:
    """The manifest of one package folder and the checks made with it."""

    def __init__(self, label: str, folder: str, manifest: str, digest: Any) -> None:
        self.label = label
        self.folder = os.path.realpath(folder)
        self._prefix = self.folder + os.sep
        self.digest = digest
        self.files: dict[str, tuple[int, str]] = {}
        for line in manifest.splitlines():
            path, size, sha = line.rsplit("\t", 2)
            self.files[path] = (int(size), sha)

    def owns(self, path: str) -> bool:
        """True for a path inside the package folder (paths of the package's finders are
        absolute, under the folder's real path: the package holds no links)."""
        return os.path.normpath(path).startswith(self._prefix)

    def listed(self, path: str) -> bool:
        """Whether a file of the package folder is in the manifest."""
        return os.path.normpath(path)[len(self._prefix) :] in self.files

    def finder(self, folder: str, *loaders: Any) -> machinery.FileFinder:
        """A FileFinder of a package folder that sees only the files of the manifest: a
        file left by another version (an upgrade extracted over an older package) or added
        later is not there for it."""
        checker = self

        class ListedFinder(machinery.FileFinder):
            def find_spec(self, fullname: str, target: Any = None) -> Any:
                spec = super().find_spec(fullname, target)
                origin = getattr(spec, "origin", None)
                if spec is not None and spec.has_location and origin and checker.owns(origin):
                    return spec if checker.listed(origin) else None
                return spec

        return ListedFinder(folder, *loaders)

    def check(self, path: str, data: bytes) -> None:
        """Raise PackageError unless ``data``, read from ``path``, is as packaged."""
        real = os.path.normpath(path)
        if not real.startswith(self._prefix):
            return  # not the package's (a host's own module)
        rel = real[len(self._prefix) :]
        entry = self.files.get(rel)
        if entry is None:
            raise PackageError(
                f"plugin {self.label}: {rel} in {self.folder} is not part of its package "
                "(a file added after packaging is never run): extract the package again"
            )
        if len(data) != entry[0] or self.digest(data) != entry[1]:
            raise PackageError(
                f"plugin {self.label}: {rel} in {self.folder} differs from the file packaged "
                "(its digest does not match the one recorded in the library): the package "
                "was modified or mixed with another version; extract it again"
            )

    def check_file(self, path: str) -> None:
        """Check a file of the package (an extension module before it is loaded)."""
        with open(path, "rb") as f:
            self.check(path, f.read())

    def check_present(self) -> None:
        """Every file of the manifest exists with its size (a partial or mixed extraction
        fails here, at init, rather than at the first import of a missing file)."""
        bad = []
        for rel, (size, _sha) in self.files.items():
            try:
                found = os.stat(os.path.join(self.folder, rel)).st_size
            except OSError:
                bad.append(f"{rel} (missing)")
                continue
            if found != size:
                bad.append(f"{rel} ({found} bytes, packaged {size})")
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise PackageError(
                f"plugin {self.label}: its package folder {self.folder} is not the one it was "
                f"packaged with: {', '.join(bad[:3])}{more}; extract the whole package again"
            )

    def missing_hint(self, name: str) -> str:
        """What to say when the package lacks module ``name``."""
        return f"the package of plugin {self.label} lacks it: " + INCLUDE_HINT.format(name=name)


def _loaders(checker: Checker) -> list[tuple[type, list[str]]]:
    class CheckedBytecode(machinery.SourcelessFileLoader):
        def get_data(self, path: str) -> bytes:
            data = super().get_data(path)
            checker.check(path, data)
            return data

    class CheckedExtension(machinery.ExtensionFileLoader):
        def create_module(self, spec: Any) -> Any:
            checker.check_file(self.path)
            return super().create_module(spec)

    return [
        (CheckedExtension, list(machinery.EXTENSION_SUFFIXES)),
        (CheckedBytecode, list(machinery.BYTECODE_SUFFIXES)),
    ]


class _MissingStdlib:
    """On sys.meta_path after the path finder: a standard-library module the package lacks
    (the analysis cannot see a dynamic import) fails with a message naming it and saying how
    to add it, instead of a bare "No module named"."""

    def __init__(self, checker: Checker) -> None:
        self.checker = checker

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.partition(".")[0] not in sys.stdlib_module_names:
            return None
        raise ModuleNotFoundError(
            f"No module named {fullname!r}: {self.checker.missing_hint(fullname)}",
            name=fullname,
        )

    def invalidate_caches(self) -> None:
        pass


def activate(label: str, folder: str, stdlib: str, manifest: str, digest: Any) -> Checker:
    """Check the package folder and install its checks; returns the checker the library's
    import space reads its code through. Called once per library and process."""
    checker = Checker(label, folder, manifest, digest)
    checker.check_present()
    loaders = _loaders(checker)

    def hook(path: str) -> Any:
        if not checker.owns(path):
            raise ImportError("not a folder of this package")
        return checker.finder(path, *loaders)

    sys.path_hooks.insert(0, hook)
    for rel in filter(None, stdlib.split("\n")):
        path = os.path.join(checker.folder, rel)
        if path not in sys.path:  # another library started the interpreter
            sys.path.append(path)
    for path in list(sys.path_importer_cache):
        if checker.owns(path):  # found before the hook: found again through it
            del sys.path_importer_cache[path]
    if not any(isinstance(f, _MissingStdlib) for f in sys.meta_path):
        sys.meta_path.append(_MissingStdlib(checker))
    for module in list(sys.modules.values()):  # loaded while the interpreter started
        where = _file_of(module)
        if where and checker.owns(where):
            checker.check_file(where)
    return checker


def _file_of(module: Any) -> str | None:
    """A module's file, read from its namespace: a module that has not run yet (one the
    import space defers, see _space.defer_imports) must not run here. Its file is checked
    now all the same, and again when it is read."""
    if isinstance(module, types.ModuleType):
        where = object.__getattribute__(module, "__dict__").get("__file__")
    else:
        where = getattr(module, "__file__", None)
    return where if isinstance(where, str) else None
