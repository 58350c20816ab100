"""Finding a plugin class from what the user gives the CLI: ``path/plugin.py[:Class]``
or ``package.module:Class``, and the import roots the plugin's library is built with.

At build time (and in tests) a plugin is imported in an import space of its own, with the
roots its library will have (see ``_space.py``), so the build sees what init will see.
"""

from __future__ import annotations

import os
import re
import threading
from types import ModuleType

from ._lean_typing import TYPE_CHECKING
from .base import Plugin

if TYPE_CHECKING:  # the build-time half: imported where used (the runtime needs none of it)
    from typing import NamedTuple

    from ._space import ImportSpace, Root
else:
    from ._lean_typing import NamedTuple

SDK_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


class PluginLoadError(Exception):
    """The plugin module or class could not be found or imported."""


class PluginRef(NamedTuple):
    """Where a plugin class lives: a file (absolute) or an importable module, and a name."""

    module_file: str  # absolute path, or "" for an importable module
    module_name: str  # module to import when module_file is ""
    class_name: str  # "" = the single Plugin subclass defined in the module

    @classmethod
    def parse(cls, target: str) -> PluginRef:
        """Parse ``plugin.py``, ``plugin.py:Class`` or ``pkg.module:Class``."""
        path_part, class_name = target, ""
        head, sep, tail = target.rpartition(":")
        if sep and tail.isidentifier():
            path_part, class_name = head, tail
        if path_part.endswith(".py") or os.sep in path_part or os.path.isfile(path_part):
            path = os.path.realpath(os.path.expanduser(path_part))
            if not os.path.isfile(path):
                raise PluginLoadError(f"no such plugin file: {path_part}")
            return cls(path, "", class_name)
        if not re.fullmatch(r"[A-Za-z_][\w.]*", path_part):
            raise PluginLoadError(f"not a file or module name: {target!r}")
        return cls("", path_part, class_name)


def site_folders() -> list[str]:
    """This interpreter's site-packages folders and the folders their ``.pth`` files add
    (editable installs), in ``site``'s order."""
    import site

    folders: list[str] = []
    for base in site.getsitepackages():
        if not os.path.isdir(base):
            continue
        folders.append(base)
        for pth in sorted(p for p in os.listdir(base) if p.endswith(".pth")):
            try:
                with open(os.path.join(base, pth), encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                folder = os.path.normpath(os.path.join(base, line))
                if os.path.isdir(folder):
                    folders.append(folder)
    return folders


def import_roots(ref: PluginRef) -> list[Root]:
    """The roots of a plugin's import space: its own folder (the current one for a module
    reference), the SDK, and this environment's site-packages."""
    from ._space import PRIVATE, SDK, SHARED, Root

    own = os.path.dirname(ref.module_file) if ref.module_file else os.getcwd()
    roots = [Root(PRIVATE, own), Root(SDK, SDK_ROOT)]
    roots += [Root(SHARED, folder) for folder in site_folders()]
    return roots


_spaces: dict[PluginRef, ImportSpace] = {}
_spaces_lock = threading.Lock()


def space_for(ref: PluginRef) -> ImportSpace:
    """The import space a plugin is loaded in at build time (one per plugin, kept for the
    process). The SDK is this process's own: it is the one the library will be built with."""
    from ._space import SDK_PACKAGE, ImportSpace

    key = ref._replace(class_name="")
    with _spaces_lock:
        space = _spaces.get(key)
        if space is None:
            label = os.path.splitext(os.path.basename(ref.module_file))[0] or ref.module_name
            space = _spaces[key] = ImportSpace(label, import_roots(ref), host_names=[SDK_PACKAGE])
        return space


def forget_spaces() -> None:
    """Close the import spaces of the plugins loaded so far: the next build imports their
    code anew (``falco-plugin run --watch`` after an edit)."""
    with _spaces_lock:
        for space in _spaces.values():
            space.close()
        _spaces.clear()


def import_module(ref: PluginRef) -> ModuleType:
    """Import the module of a plugin in its import space (once per process)."""
    space = space_for(ref)
    try:
        if ref.module_file:
            return space.load_file(ref.module_file)
        return space.import_module(ref.module_name)
    except Exception as exc:
        what = ref.module_file or ref.module_name
        raise PluginLoadError(f"importing {what} failed: {exc!r}") from exc


def find_class(module: ModuleType, class_name: str) -> type[Plugin]:
    """The named class, or the only Plugin subclass defined in the module."""
    if class_name:
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            raise PluginLoadError(f"{module.__name__} has no Plugin subclass {class_name!r}")
        return cls
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Plugin)
        and obj.__module__ == module.__name__
        and not getattr(obj, "__abstractmethods__", None)
    ]
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise PluginLoadError(
            f"expected exactly one Plugin subclass in {module.__name__} (found: {names}); "
            "name one with FILE:Class"
        )
    return found[0]


def load_class(ref: PluginRef) -> type[Plugin]:
    """Import and return the plugin class a reference points to."""
    return find_class(import_module(ref), ref.class_name)
