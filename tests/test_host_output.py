"""The SDK host's own output has a channel of its own: what a plugin prints never mixes with
the host's records (issue 10: falco_capture must survive a plugin that prints)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from falco_plugin.host import run_host
from falco_plugin.testing import Capture

PRINTER = '''
import json
import sys

from falco_plugin import Eof, SourceInstance, SourcePlugin


class Instance(SourceInstance):
    def __init__(self):
        self.left = 3

    def next_batch(self, batch):
        if not self.left:
            raise Eof
        # a line that looks like one of the host's event records, and some chatter
        print(json.dumps({"evtnum": 100 + self.left, "payload_hex": "6b6b", "info": "fake"}))
        print("progress: working", flush=True)
        print("to stderr", file=sys.stderr)
        batch.add(f"event {self.left}")
        self.left -= 1


class Printer(SourcePlugin):
    NAME = "printer"
    VERSION = "0.1.0"
    DESCRIPTION = "prints to stdout while it runs"
    CONTACT = "tests"
    PLUGIN_ID = 424290
    EVENT_SOURCE = "printer"

    def open(self, params):
        return Instance()
'''


def test_a_plugin_printing_to_stdout(
    tmp_path: Path, falco_capture: Callable[..., Capture], falco_build: Callable[[str], Path]
) -> None:
    plugin = tmp_path / "printer.py"
    plugin.write_text(PRINTER)
    cap = falco_capture(plugin)
    assert cap.ok, cap.error_message
    assert cap.texts == ["event 3", "event 2", "event 1"]  # no fake event among them
    assert [e["evtnum"] for e in cap.events] == [1, 2, 3]
    assert cap.plugin_stdout.count('"info": "fake"') == 3
    assert cap.plugin_stdout.count("progress: working") == 3
    assert cap.stderr.count("to stderr") == 3
    # the text output of the host is clean too: three event lines, the plugin's prints apart
    proc = run_host(["run", str(falco_build(str(plugin)))])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:1] + line.split()[2:] for line in lines[:3]] == [
        ["1", "printer"], ["2", "printer"], ["3", "printer"]
    ]  # fmt: skip
    assert any(line.startswith("summary printer: cycle 1, 3 events") for line in lines)
    assert "fake" not in proc.stdout and proc.plugin_stdout.count("fake") == 3
