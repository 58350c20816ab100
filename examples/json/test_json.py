"""The json port: pointers, absent values, the per-event cache, the Go plugin's text forms,
through the raw ABI and in plain Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.abi import SUCCESS, Extractor, load

from falco_plugin import encode_plugin_event
from falco_plugin.loader import PluginRef, import_module
from falco_plugin.unit import extract_field, make_event

PLUGIN = str(Path(__file__).with_name("plugin.py"))
DOC = {"user": {"name": "root", "ids": [0, 7]}, "a/b": {"~x": True}, "n": None, "e": {}}
EVENT = encode_plugin_event(json.dumps(DOC), plugin_id=5, ts=1234)
mod = import_module(PluginRef.parse(PLUGIN))


@pytest.fixture(scope="module")
def so(falco_build):
    return load(falco_build(PLUGIN))


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("/user/name", "root"),
        ("user/name", "root"),  # the Go plugin makes the leading slash optional
        ("/user/ids", "[0,7]"),
        ("/user/ids/1", "7"),
        ("/user/ids/+1", "7"),  # array indexes are read like Go's strconv.Atoi
        ("/user/ids/-1", None),
        ("/a~1b/~0x", "true"),
        ("/n", "null"),
        ("/e", "{}"),
        ("/user/missing", None),
        ("/user/ids/9", None),
        ("/user/name/deeper", None),
    ],
)
def test_pointers(so, cache: bool, pointer: str, expected: str | None) -> None:
    ex = Extractor(so, json.dumps({"cache": cache}).encode())
    assert ex.extract(EVENT, f"json.value[{pointer}]")[:2] == (SUCCESS, expected)
    assert ex.extract(EVENT, f"jevt.value[{pointer}]")[:2] == (SUCCESS, expected)
    ex.close()


def test_obj_rawtime_and_non_json_payloads(so) -> None:
    ex = Extractor(so, b"{}")
    indented = json.dumps(DOC, indent=2)
    assert ex.extract(EVENT, "json.obj")[1] == indented
    assert ex.extract(EVENT, "jevt.obj")[1] == indented
    assert ex.extract(EVENT, "json.rawtime")[1] == "1234"
    assert ex.extract(EVENT, "jevt.rawtime")[1] == "1234"
    for payload in (b"12 events remaining", b"{broken", b""):
        other = encode_plugin_event(payload, plugin_id=5)
        assert ex.extract(other, "json.obj")[:2] == (SUCCESS, None)
        assert ex.extract(other, "json.value[/a]")[:2] == (SUCCESS, None)
    ex.close()


def test_go_text_forms() -> None:
    plugin = mod.Json(mod.JsonConfig())
    event = make_event(b'{"uri":"/a?b=1&c=<2>","list":[{"k":"x&y"}],"f":1.5,"u":"\\u00e9"}')
    assert extract_field(plugin, "json.value[/uri]", event) == "/a?b=1&c=<2>"
    # non-string values are JSON text as Go's encoding/json writes it (HTML-safe escapes)
    assert extract_field(plugin, "json.value[/list]", event) == '[{"k":"x\\u0026y"}]'
    assert extract_field(plugin, "json.value[/f]", event) == "1.5"
    assert extract_field(plugin, "json.value[/u]", event) == "é"
    assert extract_field(plugin, "json.obj", event).startswith('{\n  "uri": "/a?b=1\\u0026c=')


def test_config_accepts_the_go_plugins_keys() -> None:
    from falco_plugin.config import parse_config

    assert parse_config(mod.JsonConfig, '{"useAsync": false, "other": 1}').cache is True
