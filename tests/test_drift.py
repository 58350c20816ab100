"""The library and the plugin's code must not drift apart (issue 10, item 3).

The ``.so`` bakes the static facts (fields and their types, schema, names, capabilities...)
at build time, and imports the code as it is at init. Edited without a rebuild, the code
would answer with other types than the host reads (an int taken for a string pointer: a
segmentation fault in Falco). Init compares and refuses with "rebuild the plugin: ...".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from falco_plugin.build import build
from falco_plugin.testing import run_capture

SOURCE = '''
import dataclasses

from falco_plugin import Eof, ExtractEvent, ExtractPlugin, SourceInstance, SourcePlugin, field


@dataclasses.dataclass
class Cfg:  # unused until an edit gives the plugin a config
    level: int = 1


class Instance(SourceInstance):
    def __init__(self):
        self.left = 3

    def next_batch(self, batch):
        if not self.left:
            raise Eof
        self.left -= 1
        batch.add(f"event {self.left}")


class Drifty(SourcePlugin, ExtractPlugin):
    NAME = "drifty"
    VERSION = "1.0.0"
    DESCRIPTION = "Edited after its build"
    CONTACT = "tests"
    PLUGIN_ID = 424330
    EVENT_SOURCE = "drifty"

    def open(self, params):
        return Instance()

    @field("drifty.text", desc="the payload")
    def text(self, event: ExtractEvent) -> str:
        return event.payload.decode()

    @field("drifty.size", desc="the payload size")
    def size(self, event: ExtractEvent) -> int:
        return len(event.payload)
'''

EDITS = {
    "a field's type": (
        'def text(self, event: ExtractEvent) -> str:\n        return event.payload.decode()',
        "def text(self, event: ExtractEvent) -> int:\n        return len(event.payload)",
        "field drifty.text: type string -> uint64",
    ),
    "a removed field": (
        '@field("drifty.size", desc="the payload size")',
        "",
        "field drifty.size was removed",
    ),
    "a field's description": (
        'desc="the payload size"',
        'desc="how long the payload is"',
        "field drifty.size: desc changed",
    ),
    "the plugin id": ("PLUGIN_ID = 424330", "PLUGIN_ID = 424331", "plugin id: 424330 -> 424331"),
    "the name": ('NAME = "drifty"', 'NAME = "drifted"', 'name: "drifty" -> "drifted"'),
    "a new optional method": (
        "    def open(self, params):",
        "    def event_to_string(self, event):\n        return 'x'\n\n    def open(self, params):",
        'optional methods: [] -> ["event_to_string"]',
    ),
    "a config": (
        "    def open(self, params):",
        "    def __init__(self, config: Cfg):\n        pass\n\n    def open(self, params):",
        "the config schema changed",
    ),
}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    plugin = tmp_path / "drifty" / "plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(SOURCE)
    return plugin, build(str(plugin), tmp_path / "libdrifty.so")


def test_unedited_code_runs(built: tuple[Path, Path]) -> None:
    cap = run_capture(built[1], fields=["drifty.text", "drifty.size"])
    assert cap.ok, cap.error_message
    assert cap.fields[0] == {"drifty.text": "event 2", "drifty.size": 7}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_code_edited_without_a_rebuild_fails_init(built: tuple[Path, Path], edit: str) -> None:
    plugin, lib = built
    old, new, says = EDITS[edit]
    assert old in SOURCE
    plugin.write_text(SOURCE.replace(old, new))
    cap = run_capture(lib, fields=["drifty.text"])
    assert cap.returncode == 1 and not cap.events
    assert "rebuild the plugin:" in cap.error_message
    assert says in cap.error_message, cap.error_message


def test_edited_field_type_in_falco(built: tuple[Path, Path], falco_realhost: Path) -> None:
    """In real Falco this edit was a segmentation fault; now Falco reports the init error."""
    from falco_plugin.realhost import run_falco

    plugin, lib = built
    old, new, says = EDITS["a field's type"]
    plugin.write_text(SOURCE.replace(old, new))
    rule = (
        "- rule: text\n  desc: text\n  condition: drifty.text != ''\n"
        "  output: '%drifty.text'\n  priority: INFO\n  source: drifty\n"
    )
    run = run_falco([lib], rule)
    assert run.returncode == 1 and not run.alerts
    assert "rebuild the plugin" in run.stderr and says in run.stderr
