"""Finding a plugin class from what the user gives the CLI: ``path/plugin.py[:Class]``
or ``package.module:Class``; used both at build time and inside the embedded interpreter."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import zlib
from types import ModuleType
from typing import NamedTuple

from .base import Plugin


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


def unique_module_name(path: str) -> str:
    """A module name for a plugin file that cannot collide with another plugin's."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    return f"falco_plugin_user_{stem}_{zlib.crc32(path.encode()):08x}"


def import_module(ref: PluginRef) -> ModuleType:
    """Import the module of a plugin (once per interpreter, under a collision-free name)."""
    if not ref.module_file:
        try:
            return importlib.import_module(ref.module_name)
        except Exception as exc:
            raise PluginLoadError(f"cannot import {ref.module_name}: {exc!r}") from exc
    name = unique_module_name(ref.module_file)
    if name in sys.modules:
        return sys.modules[name]
    folder = os.path.dirname(ref.module_file)
    if folder not in sys.path:  # sibling modules of the plugin file
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, ref.module_file)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"cannot load {ref.module_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        raise PluginLoadError(f"importing {ref.module_file} failed: {exc!r}") from exc
    return module


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
