"""falco_plugin.gojson: JSON read and written the way the official Go plugins do."""

from __future__ import annotations

import pytest

from falco_plugin.gojson import MISSING, dumps, dumps_indented, get, loads, pointer_tokens, text

DOC = {"a": {"b": [10, {"c": None}], "e": {}}, "s": "x&y"}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (("a", "b", "0"), 10),
        (("a", "b", "+1", "c"), None),  # JSON null is a value
        (("a", "b", "01"), {"c": None}),  # read like Go's strconv.Atoi
        (("a", "b", "-1"), MISSING),
        (("a", "b", "2"), MISSING),
        (("a", "b", "x"), MISSING),
        (("a", "b", "1", "c", "d"), MISSING),  # below null: nothing
        (("s", "0"), MISSING),  # strings have no members
        ((), DOC),
    ],
)
def test_get_walks_like_fastjson(keys: tuple[str, ...], expected: object) -> None:
    found = get(DOC, *keys)
    if expected is MISSING:
        assert found is MISSING
    else:
        assert found == expected


def test_text_and_dumps_write_gos_json() -> None:
    assert text("a<b") == "a<b"  # a string field holds the string itself
    assert text(None) == "null" and text(True) == "true" and text(12) == "12"
    assert dumps({"k": "<a>&\u2028é"}) == '{"k":"\\u003ca\\u003e\\u0026\\u2028é"}'
    assert dumps({"b": 1, "a": [1, {}]}) == '{"b":1,"a":[1,{}]}'  # document order
    assert dumps_indented({"a": [1, 2], "e": {}, "l": []}) == (
        '{\n  "a": [\n    1,\n    2\n  ],\n  "e": {},\n  "l": []\n}'
    )


def test_loads_is_strict_about_json_and_lenient_about_utf8() -> None:
    for bad in (b"NaN", b'{"a": Infinity}', b"{"):
        with pytest.raises(ValueError):
            loads(bad)
    assert loads(b'{"a": "\xff"}') == {"a": "\ufffd"}
    assert loads('["x"]') == ["x"]


def test_pointer_tokens() -> None:
    assert pointer_tokens("/a/b") == ["a", "b"]
    assert pointer_tokens("a/b") == ["a", "b"]  # the leading slash is optional
    assert pointer_tokens("/a~1b/~0c") == ["a/b", "~c"]
    assert pointer_tokens("/") == [""]
    assert not MISSING and repr(MISSING) == "MISSING"
