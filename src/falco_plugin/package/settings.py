"""The author's packaging settings: ``include`` in the ``[tool.falco-plugin]`` table of the
plugin's ``pyproject.toml`` (the table ``falco_plugin.project`` reads; a plugin that is no
``falco-plugin new`` project may have the table with ``include`` alone).

``include`` lists what the import analysis cannot see: module names (imported dynamically,
e.g. ``importlib.import_module(name)`` or a codec looked up by name) and data files of the
plugin's folder (paths relative to it, e.g. ``"schema.json"``)::

    [tool.falco-plugin]
    include = ["encodings.cp1252", "schema.json"]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..build import BuildError
from ..loader import PluginRef

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass
class Settings:
    """What ``[tool.falco-plugin]`` says about packaging, and the file it was read from."""

    include: list[str] = field(default_factory=list)
    source: Path | None = None  # the pyproject.toml read


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml in ``start`` or above it."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def settings(ref: PluginRef) -> Settings:
    """The ``[tool.falco-plugin]`` settings that apply to plugin ``ref``."""
    start = Path(os.path.dirname(ref.module_file) if ref.module_file else os.getcwd())
    path = find_pyproject(start.resolve())
    if path is None:
        return Settings()
    with open(path, "rb") as f:
        table: Any = tomllib.load(f).get("tool", {}).get("falco-plugin", {})
    include = table.get("include", [])
    if not isinstance(include, list) or not all(isinstance(i, str) for i in include):
        raise BuildError(f"{path}: [tool.falco-plugin] include must be a list of strings")
    return Settings(include=list(include), source=path)
