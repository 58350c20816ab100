"""picky (a plugin that accepts one config string) through the C host and in plain Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from falco_plugin import Eof, EventBatch, PluginError
from falco_plugin.loader import PluginRef, load_class
from falco_plugin.testing import plugin_args, run_capture

PLUGIN = str(Path(__file__).parent / "plugins" / "picky.py")


def test_accepts_only_testing(falco_capture) -> None:
    assert falco_capture(PLUGIN, config="testing").ok
    bad = falco_capture(PLUGIN, config="")
    assert bad.returncode == 1
    assert bad.error_message.endswith("I only accept \"testing\" as the config string, got ''")


def test_set_config_checks_the_same(falco_build) -> None:
    lib = falco_build(PLUGIN)
    assert run_capture([plugin_args(lib, "testing", set_config="testing")]).ok
    assert (
        "I only accept" in run_capture([plugin_args(lib, "testing", set_config="x")]).error_message
    )


def test_in_process() -> None:
    Picky = load_class(PluginRef.parse(PLUGIN))

    with pytest.raises(PluginError):
        Picky("nope")
    instance = Picky("testing").open("")
    with pytest.raises(Eof):
        instance.next_batch(EventBatch())
    assert Picky("testing").event_to_string(None) == "what event?"  # type: ignore[attr-defined]
