"""``falco-plugin new NAME``: a plugin project that builds, passes its tests and alerts in Falco.

The project (a folder NAME/)::

    pyproject.toml        [tool.falco-plugin]: the plugin class and rules file
    plugin.py             the plugin class, with the chosen capabilities
    NAME_rules.yaml       a Falco rule on the plugin's events
    tests/test_plugin.py  tests: plain Python, the SDK's host, the real Falco
    README.md             how to build, test and load it (the falco.yaml)

Capabilities: ``source`` (events of its own source; with ``extract`` fields over them,
``parse`` state kept from them, ``listen`` a routine while the capture is open) or
``async`` (events into Falco's syscall stream; with ``listen`` the routine emits them).
With its default config and open params the plugin makes events its rule alerts on.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .scaffold_templates import (
    async_plugin,
    readme,
    rules_file,
    source_plugin,
    tests_file,
)

CAPABILITIES = ("source", "extract", "parse", "async", "listen")
DEFAULT_CAPABILITIES = ("source", "extract")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,40}")


class ScaffoldError(Exception):
    """The project cannot be made as asked (the message says why and what to do)."""


def check_capabilities(capabilities: Iterable[str]) -> frozenset[str]:
    """The capabilities as a set, refused when the template cannot make them work."""
    caps = frozenset(c.strip() for c in capabilities if c.strip())
    unknown = sorted(caps - set(CAPABILITIES))
    if unknown:
        raise ScaffoldError(
            f"unknown capabilities {', '.join(unknown)}: choose from {', '.join(CAPABILITIES)}"
        )
    if "source" in caps and "async" in caps:
        raise ScaffoldError(
            "choose source or async: this template makes either a source plugin or a "
            "plugin emitting async events (a plugin can do both; start from one of them)"
        )
    if "source" not in caps and "async" not in caps:
        raise ScaffoldError(
            "add source or async: a plugin alone with "
            f"{', '.join(sorted(caps)) or 'no capability'} works on the events of other "
            "plugins or of the kernel, which a new project cannot test by itself"
        )
    if "async" in caps and caps & {"extract", "parse"}:
        raise ScaffoldError("extract and parse go with source in this template, not with async")
    return caps


def class_name(name: str) -> str:
    """``my_plugin`` -> ``MyPlugin``."""
    return "".join(part.capitalize() for part in name.split("_") if part) or "Plugin"


def project_files(name: str, capabilities: frozenset[str]) -> dict[str, str]:
    """Every file of the project, by its path relative to the project folder."""
    cls = class_name(name)
    plugin = (
        source_plugin(name, cls, capabilities)
        if "source" in capabilities
        else async_plugin(name, cls, capabilities)
    )
    return {
        "pyproject.toml": pyproject(name, cls),
        "plugin.py": plugin,
        f"{name}_rules.yaml": rules_file(name, capabilities),
        "tests/test_plugin.py": tests_file(name, cls, capabilities),
        "README.md": readme(name, cls, capabilities),
        ".gitignore": "__pycache__/\n*.so\n.pytest_cache/\n",
    }


def pyproject(name: str, cls: str) -> str:
    """The ``pyproject.toml`` of a new project: its ``[tool.falco-plugin]`` table names the plugin
    class."""
    return f"""\
# The plugin project of {name}: falco-plugin build (and package) read [tool.falco-plugin].
[project]
name = "falco-{name.replace("_", "-")}"
version = "0.1.0"  # keep equal to {cls}.VERSION (a test checks it)
description = "A Falco plugin written in Python with falco-plugin"
requires-python = ">=3.10"
dependencies = ["falco-plugin"]

[project.optional-dependencies]
test = ["pytest>=7"]

[tool.falco-plugin]
plugin = "plugin.py:{cls}"
rules = ["{name}_rules.yaml"]

[tool.setuptools]
py-modules = []  # nothing to install: falco-plugin builds plugin.py into lib{name}.so

[tool.pytest.ini_options]
testpaths = ["tests"]
"""


def create_project(
    name: str, capabilities: Iterable[str] = DEFAULT_CAPABILITIES, parent: Path | str = "."
) -> Path:
    """Write the project NAME/ in ``parent``; returns its folder."""
    if not NAME_RE.fullmatch(name):
        raise ScaffoldError(
            f"plugin name {name!r}: use lowercase letters, digits and _, starting with a "
            "letter (it names the event source, the fields and lib<NAME>.so)"
        )
    caps = check_capabilities(capabilities)
    folder = Path(parent) / name
    if folder.exists() and any(folder.iterdir()):
        raise ScaffoldError(f"{folder} exists and is not empty")
    for relative, text in project_files(name, caps).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def cmd_new(args: argparse.Namespace) -> int:
    """``falco-plugin new NAME [--capabilities ...] [--dir PARENT]``."""
    folder = create_project(args.name, args.capabilities.split(","), args.dir)
    print(f"created {folder}: cd {folder} && python -m pytest && falco-plugin build")
    return 0


def add_new_command(sub: Any) -> None:
    """Register ``new`` on the CLI's subcommands (an ``add_subparsers`` object)."""
    n = sub.add_parser("new", help="create a plugin project NAME/ (plugin, tests, rules, README)")
    n.add_argument("name", help="the plugin's name: lowercase letters, digits and _")
    n.add_argument(
        "--capabilities",
        default=",".join(DEFAULT_CAPABILITIES),
        help=f"comma-separated, from {','.join(CAPABILITIES)} (default: %(default)s); "
        "source or async, not both",
    )
    n.add_argument("--dir", default=".", help="where to create NAME/ (default: here)")
    n.set_defaults(func=cmd_new)
