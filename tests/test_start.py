"""What a plugin's start loads: modules only some plugins need are imported when a plugin
uses them, not by every plugin's init (each import counts in Falco's plugin start).
Properties, not times: the start time is reported by benchmarks/realhost.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# A fresh interpreter makes the runtime of a plugin and its field extractors, as the shim's
# init does, and prints which of the watched modules got imported.
PROBE = """
import json, sys
from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin._runtime import Runtime

class Plain(ExtractPlugin):
    NAME = "plain"

    @field("plain.n")
    def n(self, event: ExtractEvent) -> int:
        "a number"
        return 1

    @field("plain.s")
    def s(self, event: ExtractEvent) -> list[str] | None:
        "words"
        return None
{extra}
extractors = Runtime({cls}, "", None).extractors()
watched = ["datetime", "ipaddress"]
print(json.dumps([[m for m in watched if m in sys.modules], [e[1] for e in extractors]]))
"""

ADDRESSES = """
import ipaddress

class WithAddress(Plain):
    NAME = "with_address"

    @field("plain.ip")
    def ip(self, event: ExtractEvent) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        "an address"
        return ipaddress.ip_address("10.0.0.1")
"""


def probe(cls: str, extra: str = "") -> list[list]:
    code = PROBE.format(cls=cls, extra=extra)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_plugins_without_time_or_address_fields_load_neither_module() -> None:
    assert probe("Plain") == [[], [8, 9]]


def test_address_fields_still_resolve_and_convert() -> None:
    loaded, types = probe("WithAddress", ADDRESSES)
    assert types == [8, 9, 40] and "ipaddress" in loaded


LOGGER_PROBE = """
import gc, json
from falco_plugin import SourcePlugin
from falco_plugin._runtime import Runtime

class Logs(SourcePlugin):
    NAME = "logs"
    def __init__(self, config: str) -> None:
        self.count = 0
        self.logger.info("from __init__")

rt = Runtime(Logs, "", None)
rt.plugin.logger.info("after init")
print(json.dumps([type(r).__name__ for r in gc.get_referents(rt.plugin)]))
"""


@pytest.mark.skipif(
    sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 11), (3, 12)),
    reason="how CPython 3.11/3.12 keep instance attributes",
)
def test_the_plugin_object_keeps_fast_attribute_access() -> None:
    # CPython keeps a plain object's attributes inline (fast to read) until its __dict__ is
    # made; the SDK (its per-state logger) must not make it: next_batch and every field read
    # attributes of the plugin object
    out = subprocess.run(
        [sys.executable, "-c", LOGGER_PROBE], capture_output=True, text=True, check=True
    )
    assert "dict" not in json.loads(out.stdout)
