"""A plugin project: the folder whose ``pyproject.toml`` names the plugin class.

``falco-plugin new`` writes such a project; inside it, ``falco-plugin build`` (and the
packaging commands) need no argument. The table they read::

    [tool.falco-plugin]
    plugin = "plugin.py:Ticker"          # the plugin class: FILE.py[:Class] or module:Class
    rules = ["ticker_rules.yaml"]        # optional: the project's Falco rules files

Paths are relative to the folder of ``pyproject.toml``. :func:`find_project` finds the
project a path belongs to (the nearest ``pyproject.toml`` with that table, upwards)::

    project = find_project()             # from the current directory
    build(project.target)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .base import Plugin
from .loader import PluginRef, import_module, load_class

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLE = "falco-plugin"


class ProjectError(Exception):
    """No project where one was expected, or a ``[tool.falco-plugin]`` table that is wrong."""


@dataclass(frozen=True)
class Project:
    """A plugin project: its folder and what its ``[tool.falco-plugin]`` table says."""

    root: Path
    plugin: str  # as written: "plugin.py:Ticker" or "package.module:Ticker"
    rules: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """The plugin reference to build: a file made absolute, or the module reference."""
        path, sep, cls = self.plugin.rpartition(":")
        if not sep:
            path = self.plugin
        if path.endswith(".py") or os.sep in path or "/" in path:
            return str((self.root / path).resolve()) + (sep + cls if sep else "")
        return self.plugin

    @property
    def rules_files(self) -> list[Path]:
        """The rules files, as absolute paths."""
        return [(self.root / r).resolve() for r in self.rules]

    def module(self) -> ModuleType:
        """The plugin's module, imported the way the build imports it."""
        return import_module(PluginRef.parse(self.target))

    def plugin_class(self) -> type[Plugin]:
        """The plugin class."""
        return load_class(PluginRef.parse(self.target))


def read_project(pyproject: Path) -> Project:
    """The project described by one ``pyproject.toml`` (ProjectError when it is none)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"cannot read {pyproject}: {exc}") from None
    table: Any = data.get("tool", {}).get(TABLE)
    if not isinstance(table, dict):
        raise ProjectError(f"{pyproject} has no [tool.{TABLE}] table")
    plugin = table.get("plugin")
    if not isinstance(plugin, str) or not plugin.strip():
        raise ProjectError(
            f'[tool.{TABLE}] in {pyproject} needs plugin = "FILE.py:Class" (or "module:Class")'
        )
    rules = table.get("rules", [])
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ProjectError(f"[tool.{TABLE}] rules in {pyproject} must be a list of paths")
    return Project(pyproject.parent.resolve(), plugin.strip(), tuple(rules))


def find_project(start: str | os.PathLike[str] = ".") -> Project:
    """The project ``start`` (a folder or a file) belongs to: the nearest ``pyproject.toml``
    with a ``[tool.falco-plugin]`` table in its folder or above."""
    here = Path(start).resolve()
    folder = here if here.is_dir() else here.parent
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                return read_project(pyproject)
            except ProjectError:
                if f"[tool.{TABLE}" in pyproject.read_text(encoding="utf-8", errors="replace"):
                    raise  # the table is there but wrong (or the file broken): say so
    raise ProjectError(
        f"no pyproject.toml with a [tool.{TABLE}] table in {folder} or above: "
        "name the plugin (falco-plugin build FILE.py[:Class]) or create a project "
        "(falco-plugin new NAME)"
    )
