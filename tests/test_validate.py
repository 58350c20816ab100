"""Build-time validation of plugin classes: every mistake reported with a clear message."""

from __future__ import annotations

import dataclasses

import pytest

from falco_plugin import SourcePlugin
from falco_plugin.build import c_string
from falco_plugin.loader import PluginRef
from falco_plugin.validate import PluginDefinitionError, plugin_meta

REF = PluginRef("", "tests", "")


def make(**attrs: object) -> type[SourcePlugin]:
    base = {
        "NAME": "ok",
        "VERSION": "1.2.3",
        "DESCRIPTION": "d",
        "CONTACT": "c",
        "PLUGIN_ID": 5,
        "EVENT_SOURCE": "ok",
        "open": lambda self, params: None,
    }
    base.update(attrs)
    return type("P", (SourcePlugin,), base)


@dataclasses.dataclass
class BadCfg:
    x: complex


def problems(cls: type) -> list[str]:
    with pytest.raises(PluginDefinitionError) as info:
        plugin_meta(cls, REF)
    return info.value.problems


def test_a_valid_plugin_gives_its_static_facts() -> None:
    meta = plugin_meta(make(), REF)
    assert (meta.name, meta.plugin_id, meta.event_source) == ("ok", 5, "ok")
    assert meta.required_api_version == "3.3.0"
    assert meta.init_schema == ""  # raw string config
    assert meta.hooks == {
        "set_config": False,
        "get_metrics": False,
        "list_open_params": False,
        "event_to_string": False,
    }


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"NAME": ""}, "NAME must be a non-empty string"),
        ({"NAME": "has space"}, "NAME 'has space' must match"),
        ({"VERSION": "1.0"}, "not a semantic version"),
        ({"DESCRIPTION": 3}, "DESCRIPTION must be a non-empty string"),
        ({"EVENT_SOURCE": ""}, "PLUGIN_ID is set but EVENT_SOURCE is empty"),
        ({"PLUGIN_ID": 0}, "EVENT_SOURCE is set but PLUGIN_ID is 0"),
        ({"PLUGIN_ID": 2**32}, "out of range"),
        ({"PLUGIN_ID": "7"}, "PLUGIN_ID must be an int"),
        ({"EVENT_SOURCE": "syscall"}, "reserved"),
    ],
)
def test_definition_errors(attrs: dict[str, object], expected: str) -> None:
    assert any(expected in p for p in problems(make(**attrs))), problems(make(**attrs))


def test_all_problems_are_reported_at_once() -> None:
    found = problems(make(NAME="", VERSION="x", CONTACT=""))
    assert len(found) == 3


def test_missing_open_and_bad_config_type() -> None:
    cls = type(
        "NoOpen",
        (SourcePlugin,),
        {"NAME": "a", "VERSION": "1.0.0", "DESCRIPTION": "d", "CONTACT": "c"},
    )
    assert any("must define open" in p for p in problems(cls))

    def init(self: object, config: BadCfg) -> None: ...

    assert any("config: unsupported type" in p for p in problems(make(__init__=init)))


def test_optional_hooks_are_detected() -> None:
    cls = make(set_config=lambda s, c: None, event_to_string=lambda s, e: "")
    hooks = plugin_meta(cls, REF).hooks
    assert hooks["set_config"] and hooks["event_to_string"]
    assert not hooks["get_metrics"] and not hooks["list_open_params"]


def test_c_string_escapes_everything_unsafe() -> None:
    assert c_string('a"b\\c\n?é') == '"a\\"b\\\\c\\012\\077\\303\\251"'
