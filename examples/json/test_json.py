"""The json example: pointers, absent values, the per-event cache, through the raw ABI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.abi import FAILURE, SUCCESS, Extractor, load

from falco_plugin import encode_plugin_event
from falco_plugin.loader import PluginRef, import_module

PLUGIN = str(Path(__file__).with_name("plugin.py"))
DOC = {"user": {"name": "root", "ids": [0, 7]}, "a/b": {"~x": True}, "n": None}
EVENT = encode_plugin_event(json.dumps(DOC), plugin_id=5)


@pytest.fixture(scope="module")
def so(falco_build):
    return load(falco_build(PLUGIN))


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("/user/name", "root"),
        ("/user/ids", "[0,7]"),
        ("/user/ids/1", "7"),
        ("/a~1b/~0x", "true"),
        ("/n", "null"),
        ("/user/missing", None),
        ("/user/ids/9", None),
        ("/user/name/deeper", None),
    ],
)
def test_pointers(so, cache: bool, pointer: str, expected: str | None) -> None:
    ex = Extractor(so, json.dumps({"cache": cache}).encode())
    assert ex.extract(EVENT, f"json.value[{pointer}]")[:2] == (SUCCESS, expected)
    ex.close()


def test_obj_and_non_json_payloads(so) -> None:
    ex = Extractor(so, b"{}")
    assert ex.extract(EVENT, "json.obj")[1] == json.dumps(DOC, separators=(",", ":"))
    not_json = encode_plugin_event(b"12 events remaining", plugin_id=5)
    assert ex.extract(not_json, "json.obj")[:2] == (SUCCESS, None)
    assert ex.extract(not_json, "json.value[/a]")[:2] == (SUCCESS, None)
    rc, _, _ = ex.extract(EVENT, "json.value[no-slash]")
    assert rc == FAILURE and "a JSON pointer starts with '/'" in ex.last_error
    ex.close()


def test_resolve_in_plain_python() -> None:
    module = import_module(PluginRef.parse(PLUGIN))
    assert module.resolve(DOC, "") is DOC
    assert module.resolve(DOC, "/user/ids/0") == 0
