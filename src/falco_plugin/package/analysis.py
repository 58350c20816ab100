"""What a packaged plugin runs: the modules its code, the SDK runtime and their imports reach.

A :class:`modulefinder.ModuleFinder` walks the imports (in function bodies too) from the
plugin file, the SDK's run-time modules and the author's extra ``include`` names, through
the plugin's folder, the SDK, the environment's site-packages and the standard library.
Each module found is sorted by where it comes from:

- **private**: the plugin's folder (its own helpers);
- **sdk**: the ``falco_plugin`` package, without the build-time modules;
- **distributions**: third-party distributions of the environment, shipped whole (their
  data files and lazily imported submodules too); their own modules are walked as well, so
  the standard library they need is found;
- **stdlib**: standard-library modules and extension modules (``lib-dynload``), without
  those frozen into the interpreter, plus what the interpreter imports by itself at start.
"""

from __future__ import annotations

import _imp
import ast
import importlib.machinery
import modulefinder
import os
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import Distribution, PathDistribution
from pathlib import Path
from typing import Any

from .. import loader

SDK_PACKAGE = "falco_plugin"
# SDK modules a plugin never runs (building, the CLI, test helpers and the real-host tools)
SDK_BUILD_ONLY = ("build", "cli", "testing", "realhost", "sinsp", "host", "unit", "package")
# what the shim and the runtime import by name (sdk_attr, the lazy attributes of __init__)
SDK_RUNTIME = (
    "_runtime",
    "validate",
    "source",
    "source_helpers",
    "tables",
    "extract",
    "parse",
    "async_event",
    "listen",
)
# what the interpreter imports by itself when it starts (UTF-8 mode) or may need for text
# I/O and the import of compiled code: never seen by an import statement
INTERPRETER_START = (
    "encodings",
    "encodings.aliases",
    "encodings.utf_8",
    "encodings.utf_8_sig",
    "encodings.latin_1",
    "encodings.ascii",
    "encodings.idna",
    "signal",  # the shim's signal lock
)
EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
TEST_FOLDERS = frozenset({"tests", "test", "testing", "conftest"})


@dataclass
class Selection:
    """The files a package ships, by kind (module name -> file)."""

    stdlib: dict[str, Path] = field(default_factory=dict)
    sdk: dict[str, Path] = field(default_factory=dict)
    private: dict[str, Path] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)  # by project name
    loose: dict[str, Path] = field(default_factory=dict)  # site-packages modules of no dist
    missing: list[str] = field(default_factory=list)


# Standard-library packages for developing and testing, other platforms, or GUIs: never
# shipped unless named in ``include`` (a plugin's init names any module it lacks)
STDLIB_IDLE = (
    "doctest",
    "unittest",
    "pdb",
    "pydoc",
    "pydoc_data",
    "test",
    "tkinter",
    "turtle",
    "turtledemo",
    "idlelib",
    "lib2to3",
    "ensurepip",
    "venv",
    "distutils",
    "msilib",
    "asyncio.windows_events",
    "asyncio.windows_utils",
    "multiprocessing.popen_spawn_win32",
    "encodings.mbcs",
    "ctypes.macholib",
    "ctypes.wintypes",
    "site",  # the embedded interpreter starts without it
    "rlcompleter",
    "readline",
    "curses",
    "_hashlib",  # hashlib falls back to its builtin hashes without OpenSSL's libcrypto
)


def stdlib_folders() -> list[Path]:
    """The standard library of this interpreter and its extension modules' folder (the
    base interpreter's, also in a virtualenv)."""
    folders = [Path(sysconfig.get_path("stdlib")), Path(sysconfig.get_config_var("DESTSHARED"))]
    return list(dict.fromkeys(p.resolve() for p in folders if p.is_dir()))


CLI_FUNCTIONS = frozenset({"main", "_main", "_test", "test"})


def _strip_main_blocks(source: bytes, filename: str) -> ast.Module:
    """The module without its ``if __name__ == "__main__":`` blocks and its command-line
    functions (``main``, ``_test``), whose imports (a self-test's doctest, a command's
    argparse) never run in a plugin."""
    tree = ast.parse(source, filename)

    def is_main(node: ast.stmt) -> bool:
        test = node.test if isinstance(node, ast.If) else None
        return (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
        )

    def is_cli(node: ast.stmt) -> bool:  # `def main():` / `def _test():` of a module's CLI
        return isinstance(node, ast.FunctionDef) and node.name in CLI_FUNCTIONS

    tree.body = [node for node in tree.body if not is_main(node) and not is_cli(node)]
    return tree


class _Finder(modulefinder.ModuleFinder):
    """modulefinder that does not follow imports of ``__main__`` blocks."""

    def load_module(self, fqname: str, fp: Any, pathname: str, file_info: Any) -> Any:
        if file_info[2] != modulefinder._PY_SOURCE:  # type: ignore[attr-defined]
            return super().load_module(fqname, fp, pathname, file_info)
        code = compile(_strip_main_blocks(fp.read(), pathname), pathname, "exec")
        module: Any = self.add_module(fqname)
        module.__file__ = pathname
        module.__code__ = code
        self.scan_code(code, module)
        return module


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class _Index:
    """Which distribution of the site folders holds a file."""

    def __init__(self, site_folders: Iterable[Path]) -> None:
        self.by_file: dict[Path, Distribution] = {}
        for folder in site_folders:
            for info in sorted(folder.glob("*.dist-info")):
                dist = PathDistribution(info)
                for entry in dist.files or ():
                    self.by_file[(folder / entry).resolve()] = dist

    def owner(self, path: Path) -> Distribution | None:
        return self.by_file.get(path.resolve())


def _finder(search: list[str], include: Iterable[str]) -> modulefinder.ModuleFinder:
    wanted = set(include)
    excludes = [f"{SDK_PACKAGE}.{name}" for name in SDK_BUILD_ONLY]
    excludes += [name for name in STDLIB_IDLE if name not in wanted]
    return _Finder(path=search, excludes=excludes)


def analyse(ref: loader.PluginRef, include: Iterable[str] = ()) -> Selection:
    """Walk the imports of plugin ``ref`` (and of ``include``) and sort what they reach."""
    own = Path(os.path.dirname(ref.module_file) if ref.module_file else os.getcwd()).resolve()
    sdk_root = Path(loader.SDK_ROOT).resolve()
    sites = [Path(f).resolve() for f in loader.site_folders()]
    stdlib = stdlib_folders()
    search = [str(own), str(sdk_root), *map(str, sites), *map(str, stdlib)]
    include = list(include)
    finder = _finder(search, include)
    if ref.module_file:
        finder.run_script(ref.module_file)
    else:
        finder.import_hook(ref.module_name)
    for name in [
        SDK_PACKAGE,
        *(f"{SDK_PACKAGE}.{m}" for m in SDK_RUNTIME),
        *INTERPRETER_START,
        *include,
    ]:
        try:
            finder.import_hook(name)
        except ImportError:
            pass  # reported as missing below

    index = _Index(sites)
    selection = Selection()
    walked: set[str] = set()
    while True:
        _sort(finder, selection, own, sdk_root, sites, stdlib, index)
        new = [name for name in selection.distributions if name not in walked]
        if not new:
            break
        for name in new:  # a distribution ships whole: walk every module of it
            walked.add(name)
            for module in _dist_modules(selection.distributions[name]):
                try:
                    finder.import_hook(module)
                except (ImportError, SyntaxError):
                    pass
    selection.missing = sorted(
        name for name in finder.badmodules if name.partition(".")[0] not in ("__main__",)
    )
    return selection


def _sort(
    finder: modulefinder.ModuleFinder,
    selection: Selection,
    own: Path,
    sdk_root: Path,
    sites: list[Path],
    stdlib: list[Path],
    index: _Index,
) -> None:
    for name, module in finder.modules.items():
        where = getattr(module, "__file__", None)
        if name == "__main__" or not where:
            continue  # the plugin file itself is shipped apart; builtin modules need nothing
        path = Path(where).resolve()
        top = name.partition(".")[0]
        if top == SDK_PACKAGE and _under(path, sdk_root / SDK_PACKAGE):
            selection.sdk[name] = path
        elif _under(path, own) and not any(_under(path, s) for s in sites):
            selection.private[name] = path
        elif any(_under(path, s) for s in stdlib) and not any(_under(path, s) for s in sites):
            if not _imp.is_frozen(name):
                selection.stdlib[name] = path
        else:
            dist = index.owner(path)
            if dist is None:
                selection.loose[name] = path
            else:
                selection.distributions.setdefault(dist.metadata["Name"], dist)


def _dist_modules(dist: Distribution) -> list[str]:
    """The importable modules of a distribution (its test folders left out)."""
    names = []
    for entry in dist.files or ():
        parts = entry.parts
        if entry.suffix != ".py" or parts[0].startswith("..") or ".dist-info" in parts[0]:
            continue
        if TEST_FOLDERS.intersection(parts[:-1]) or not all(p.isidentifier() for p in parts[:-1]):
            continue
        stem = entry.stem
        mod = parts[:-1] if stem == "__init__" else (*parts[:-1], stem)
        if mod and all(p.isidentifier() for p in mod):
            names.append(".".join(mod))
    return sorted(names)


def interpreter_tag() -> str:
    """cpython-311 and the like: what compiled bytecode is valid for."""
    return sys.implementation.cache_tag or ""
