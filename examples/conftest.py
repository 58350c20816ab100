"""Examples in the real Falco, configured exactly as their README shows.

A README has a ```` ```yaml ```` block with a falco.yaml ``plugins:`` list (each
``library_path`` ends in ``lib<NAME>.so``, the library ``falco-plugin build`` makes from
``examples/<NAME>/plugin.py``) and blocks of rules (``- rule:`` ...). The fixture
``readme_falco`` builds those plugins, runs the real Falco with the README's plugin
entries and rules, and returns the :class:`~falco_plugin.realhost.FalcoRun`. The fixture
``reference`` is the folder of the official rules files the ports are tested with.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from falco_plugin.realhost import FalcoPlugin, FalcoRun, run_falco

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def readme_yaml_blocks(readme: Path) -> list[str]:
    """The text of every ```` ```yaml ```` block of a README, in order."""
    return _YAML_BLOCK.findall(readme.read_text(encoding="utf-8"))


def readme_setup(readme: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The README's falco.yaml plugin entries and its rules blocks (as YAML text)."""
    plugins: list[dict[str, Any]] = []
    rules: list[str] = []
    for block in readme_yaml_blocks(readme):
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and "plugins" in doc:
            plugins += doc["plugins"]
        elif isinstance(doc, list) and any(
            isinstance(item, dict) and {"rule", "macro", "list"} & item.keys() for item in doc
        ):
            rules.append(block)
    if not plugins or not rules:
        raise AssertionError(f"{readme} shows no falco.yaml plugins block and rules to test")
    return plugins, rules


def _library(entry: dict[str, Any], build: Callable[[str], Path]) -> Path:
    match = re.search(r"lib(\w+)\.so$", str(entry.get("library_path", "")))
    if not match or not (EXAMPLES / match[1] / "plugin.py").is_file():
        raise AssertionError(f"README library_path {entry.get('library_path')!r} names no example")
    return build(str(EXAMPLES / match[1] / "plugin.py"))


@pytest.fixture
def readme_falco(
    falco_realhost: Path, falco_build: Callable[[str], Path]
) -> Callable[..., FalcoRun]:
    """``readme_falco(example_dir, options=(...))``: the example's README setup in Falco."""

    def run(example: Path, **kwargs: Any) -> FalcoRun:
        entries, rules = readme_setup(Path(example) / "README.md")
        plugins = [
            FalcoPlugin(
                _library(e, falco_build),
                init_config=e.get("init_config"),
                open_params=e.get("open_params"),
                name=e["name"],
            )
            for e in entries
        ]
        return run_falco(plugins, rules, **kwargs)

    return run


def reference_dir() -> Path | None:
    """``$FALCO_PLUGIN_REFERENCE``, or ``../shared/reference`` beside the checkout."""
    env = os.environ.get("FALCO_PLUGIN_REFERENCE")
    folder = Path(env) if env else REPO.parent / "shared" / "reference"
    return folder if folder.is_dir() else None


@pytest.fixture(scope="session")
def reference() -> Path:
    """The folder of the official rules files (skips when it is not there)."""
    folder = reference_dir()
    if folder is None:
        pytest.skip("official rules files not found: set FALCO_PLUGIN_REFERENCE=DIR")
    return folder
